CREATE TABLE "campaign_slots" (
	"campaign_id" uuid NOT NULL,
	"slot_local" text NOT NULL,
	"at" timestamp with time zone NOT NULL,
	"post_id" uuid,
	"outcome" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "campaign_slots_campaign_id_slot_local_pk" PRIMARY KEY("campaign_id","slot_local")
);
--> statement-breakpoint
CREATE TABLE "campaigns" (
	"id" uuid PRIMARY KEY NOT NULL,
	"owner_id" uuid NOT NULL,
	"name" text NOT NULL,
	"settings" jsonb NOT NULL,
	"status" text NOT NULL,
	"status_reason" text,
	"overrides" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"idempotency_key" text,
	"request_hash" text NOT NULL,
	"workflow_id" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "campaign_slots" ADD CONSTRAINT "campaign_slots_campaign_id_campaigns_id_fk" FOREIGN KEY ("campaign_id") REFERENCES "public"."campaigns"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "campaign_slots" ADD CONSTRAINT "campaign_slots_post_id_posts_id_fk" FOREIGN KEY ("post_id") REFERENCES "public"."posts"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "campaigns" ADD CONSTRAINT "campaigns_owner_id_users_id_fk" FOREIGN KEY ("owner_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "campaign_slots_post_idx" ON "campaign_slots" USING btree ("post_id");--> statement-breakpoint
CREATE INDEX "campaign_slots_at_idx" ON "campaign_slots" USING btree ("at");--> statement-breakpoint
CREATE UNIQUE INDEX "campaigns_owner_idempotency_key_unique" ON "campaigns" USING btree ("owner_id","idempotency_key") WHERE "campaigns"."idempotency_key" is not null;--> statement-breakpoint
CREATE INDEX "campaigns_owner_created_idx" ON "campaigns" USING btree ("owner_id","created_at");