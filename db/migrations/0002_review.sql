CREATE TABLE "generations" (
	"id" uuid PRIMARY KEY NOT NULL,
	"post_id" uuid NOT NULL,
	"round" integer NOT NULL,
	"mode" text NOT NULL,
	"model" text,
	"prompt_tokens" integer,
	"completion_tokens" integer,
	"latency_ms" integer NOT NULL,
	"feedback" text,
	"drafts" jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "posts" ALTER COLUMN "caption" DROP NOT NULL;--> statement-breakpoint
ALTER TABLE "posts" ADD COLUMN "brief" jsonb;--> statement-breakpoint
ALTER TABLE "posts" ADD COLUMN "review_policy" jsonb DEFAULT '{"mode":"auto"}'::jsonb NOT NULL;--> statement-breakpoint
ALTER TABLE "posts" ADD COLUMN "review_round" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "posts" ADD COLUMN "time_zone" text;--> statement-breakpoint
ALTER TABLE "publications" ADD COLUMN "format" text DEFAULT 'generic' NOT NULL;--> statement-breakpoint
ALTER TABLE "publications" ADD COLUMN "draft" jsonb;--> statement-breakpoint
ALTER TABLE "generations" ADD CONSTRAINT "generations_post_id_posts_id_fk" FOREIGN KEY ("post_id") REFERENCES "public"."posts"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "generations_post_round_unique" ON "generations" USING btree ("post_id","round");