import type { MediaTools } from '../../media/tools.js';
import type { Resolver } from '../../media/url-import.js';

/** What the media use cases need beyond the database and the store. */
export interface MediaServices {
  /** ffmpeg and ffprobe; absent where they are not installed (images only, videos refused in words). */
  tools?: MediaTools | undefined;
  /**
   * How long reading an upload's video (ffprobe, then the thumbnail frame) may take before the
   * upload is refused; default media/probe.ts's PROBE_TIMEOUT_MS. Tests set a short one.
   */
  probeTimeoutMs?: number | undefined;
  /** Signed public links to renditions (media/signed-url.ts). */
  links: {
    /** The key links are signed with (derived from APP_SECRET). */
    secret: string;
    /** PUBLIC_URL, or the API's own URL. */
    publicUrl(): string;
    /** How long a link stays valid. */
    ttlSeconds: number;
  };
  /** Import from a URL (media/url-import.ts). */
  urlImport: {
    /** MEDIA_URL_ALLOWLIST: `host[:port]` entries that may resolve to internal addresses (local emulators). */
    allowlist: readonly string[];
    timeoutMs: number;
    /** Tests inject one (a host name resolving to 127.0.0.1); the system's otherwise. */
    resolver?: Resolver | undefined;
  };
}
