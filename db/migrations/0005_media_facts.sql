ALTER TABLE "media" ADD COLUMN "kind" text DEFAULT 'image' NOT NULL;--> statement-breakpoint
ALTER TABLE "media" ADD COLUMN "duration_sec" double precision;--> statement-breakpoint
ALTER TABLE "media" ADD COLUMN "frame_rate" double precision;--> statement-breakpoint
ALTER TABLE "media" ADD COLUMN "rotation" integer;--> statement-breakpoint
ALTER TABLE "media" ADD COLUMN "video_codec" text;--> statement-breakpoint
ALTER TABLE "media" ADD COLUMN "audio_codec" text;--> statement-breakpoint
ALTER TABLE "media" ADD COLUMN "facts" jsonb;--> statement-breakpoint
ALTER TABLE "media" ADD COLUMN "thumbnail_key" text;--> statement-breakpoint
ALTER TABLE "media" ADD COLUMN "tags" jsonb DEFAULT '[]'::jsonb NOT NULL;--> statement-breakpoint
ALTER TABLE "publications" ADD COLUMN "placement" text;--> statement-breakpoint
ALTER TABLE "publications" ADD COLUMN "fit" text;--> statement-breakpoint
ALTER TABLE "publications" ADD COLUMN "render_progress" jsonb;--> statement-breakpoint
ALTER TABLE "renditions" ADD COLUMN "changes" jsonb DEFAULT '[]'::jsonb NOT NULL;--> statement-breakpoint
ALTER TABLE "renditions" ADD COLUMN "placement" text;--> statement-breakpoint
ALTER TABLE "renditions" ADD COLUMN "duration_sec" double precision;--> statement-breakpoint
ALTER TABLE "renditions" ADD COLUMN "cover_key" text;--> statement-breakpoint
ALTER TABLE "renditions" ADD COLUMN "public_id" text;--> statement-breakpoint
CREATE INDEX "media_owner_sha256_idx" ON "media" USING btree ("owner_id","sha256");--> statement-breakpoint
CREATE UNIQUE INDEX "renditions_public_id_unique" ON "renditions" USING btree ("public_id");