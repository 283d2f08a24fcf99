ALTER TABLE "post_action_keys" ADD COLUMN "update_id" text;--> statement-breakpoint
UPDATE "post_action_keys" SET "update_id" = "action" || ':' || rtrim(translate(encode(sha256(convert_to("key", 'UTF8')), 'base64'), '+/', '-_'), '=');
