ALTER TABLE "campaigns" ADD COLUMN "workflow_started_at" timestamp with time zone;--> statement-breakpoint
-- Campaigns from before this column count as started: their owners were told to repeat the
-- request, and may have made another campaign instead, so the sweep never starts them.
UPDATE "campaigns" SET "workflow_started_at" = "created_at";--> statement-breakpoint
CREATE INDEX "campaigns_unconfirmed_idx" ON "campaigns" USING btree ("created_at") WHERE "campaigns"."workflow_started_at" is null;
