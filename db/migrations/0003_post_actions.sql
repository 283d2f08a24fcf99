CREATE TABLE "post_action_keys" (
	"owner_id" uuid NOT NULL,
	"key" text NOT NULL,
	"post_id" uuid NOT NULL,
	"action" text NOT NULL,
	"request_hash" text NOT NULL,
	"succeeded_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "post_action_keys_owner_id_key_pk" PRIMARY KEY("owner_id","key")
);
--> statement-breakpoint
ALTER TABLE "posts" ADD COLUMN "pipeline_started_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "post_action_keys" ADD CONSTRAINT "post_action_keys_owner_id_users_id_fk" FOREIGN KEY ("owner_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "post_action_keys" ADD CONSTRAINT "post_action_keys_post_id_posts_id_fk" FOREIGN KEY ("post_id") REFERENCES "public"."posts"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
-- Posts from before this column were started, except those whose start Temporal never confirmed.
UPDATE "posts" SET "pipeline_started_at" = "created_at" WHERE "error" IS NULL OR "error" NOT LIKE 'The pipeline may not have started%';
