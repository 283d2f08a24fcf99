CREATE TABLE "publishing_usage" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"budget" text NOT NULL,
	"amount" integer NOT NULL,
	"at" timestamp with time zone NOT NULL,
	"post_id" uuid,
	"target_key" text NOT NULL
);
--> statement-breakpoint
ALTER TABLE "publications" ADD COLUMN "connection_id" uuid;--> statement-breakpoint
ALTER TABLE "publications" ADD COLUMN "options" jsonb;--> statement-breakpoint
ALTER TABLE "publications" ADD COLUMN "journal" jsonb;--> statement-breakpoint
ALTER TABLE "publications" ADD COLUMN "upload_progress" jsonb;--> statement-breakpoint
ALTER TABLE "publishing_usage" ADD CONSTRAINT "publishing_usage_post_id_posts_id_fk" FOREIGN KEY ("post_id") REFERENCES "public"."posts"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "publishing_usage_budget_at_idx" ON "publishing_usage" USING btree ("budget","at");--> statement-breakpoint
CREATE UNIQUE INDEX "publishing_usage_spend_unique" ON "publishing_usage" USING btree ("post_id","target_key","budget");--> statement-breakpoint
ALTER TABLE "publications" ADD CONSTRAINT "publications_connection_id_connections_id_fk" FOREIGN KEY ("connection_id") REFERENCES "public"."connections"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "publications_connection_idx" ON "publications" USING btree ("connection_id");