ALTER TABLE "campaign_slots" ADD COLUMN "reason" text;--> statement-breakpoint
ALTER TABLE "publications" ADD COLUMN "platform_account_id" text;--> statement-breakpoint
UPDATE "publications" SET "platform_account_id" = "connections"."platform_account_id" FROM "connections" WHERE "connections"."id" = "publications"."connection_id";
