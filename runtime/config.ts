import { isAbsolute, resolve } from 'node:path';
import { z } from 'zod';

const port = (fallback: number) =>
  z.coerce
    .number({ error: 'expected a port number' })
    .int('expected a whole number')
    .min(1, 'expected a port from 1 to 65535')
    .max(65535, 'expected a port from 1 to 65535')
    .default(fallback);

const optionalText = z
  .string()
  .trim()
  .transform((v) => (v === '' ? undefined : v))
  .optional();

/** A platform base URL without a trailing slash, so paths can be appended. */
const baseUrl = (fallback: string) =>
  z
    .string()
    .trim()
    .default(fallback)
    .pipe(z.url('expected an http(s) URL'))
    .transform((v) => v.replace(/\/+$/, ''));

/** A publishing budget (domain/quotas.ts QUOTA_DEFAULTS holds the same documented defaults). */
const quota = (fallback: number) =>
  z.coerce
    .number({ error: 'expected a number' })
    .int('expected a whole number')
    .min(0, 'expected 0 or more')
    .default(fallback);

const envSchema = z.object({
  PORT: port(3000),
  HOST: z.string().trim().min(1).default('127.0.0.1'),
  DATA_DIR: z.string().trim().min(1, 'expected a directory path').default('./data'),
  DATABASE_URL: optionalText.pipe(
    z
      .string()
      .regex(/^postgres(ql)?:\/\//, 'expected a postgres:// or postgresql:// URL')
      .optional(),
  ),
  TEMPORAL_ADDRESS: optionalText.pipe(
    z
      .string()
      .regex(/^[^\s:/]+:\d{1,5}$/, 'expected host:port, for example localhost:7233')
      .optional(),
  ),
  TEMPORAL_NAMESPACE: z.string().trim().min(1).default('default'),
  TEMPORAL_TASK_QUEUE: z.string().trim().min(1).default('autopostpanel'),
  TEMPORAL_UI_URL: optionalText.pipe(z.url('expected an http(s) URL').optional()),
  TEMPORAL_CLI_PATH: optionalText,
  WORKFLOW_BUNDLE_PATH: optionalText,
  TEMPORAL_DEV_PORT: port(7233),
  TEMPORAL_DEV_UI_PORT: port(8233),
  APP_SECRET: optionalText.pipe(z.string().min(32, 'expected at least 32 characters of random text').optional()),
  MEDIA_MAX_BYTES: z.coerce
    .number({ error: 'expected a number of bytes' })
    .int('expected a whole number of bytes')
    .positive('expected a positive number of bytes')
    // TikTok takes videos up to 4 GiB; the rest covers multipart overhead.
    .default(4 * 1024 ** 3 + 16 * 1024 ** 2),
  FFMPEG_PATH: optionalText,
  FFPROBE_PATH: optionalText,
  // Hosts URL imports may reach although they resolve to internal addresses (local emulators).
  MEDIA_URL_ALLOWLIST: z
    .string()
    .default('')
    .transform((v) =>
      v
        .split(/[\s,]+/)
        .filter(Boolean)
        .map((entry) => entry.toLowerCase()),
    )
    .pipe(
      z.array(
        z
          .string()
          .regex(
            /^(\[[0-9a-f:.]+\]|[a-z0-9.-]+)(:\d{1,5})?$/,
            'expected host[:port] entries separated by commas, e.g. localhost:4010',
          ),
      ),
    ),
  SESSION_TTL_HOURS: z.coerce
    .number({ error: 'expected a number of hours' })
    .int('expected a whole number of hours')
    .min(1, 'expected from 1 to 8760 hours')
    .max(8760, 'expected from 1 to 8760 hours')
    .default(168),
  AUDIT_RETENTION_DAYS: z.coerce
    .number({ error: 'expected a number of days' })
    .int('expected a whole number of days')
    .min(1, 'expected at least 1 day')
    .default(90),
  REQUEST_BODY_TIMEOUT_SECONDS: z.coerce
    .number({ error: 'expected a number of seconds' })
    .int('expected a whole number of seconds')
    .min(1, 'expected at least 1 second')
    .default(60),
  AUTH_IP_LIMIT: z.coerce
    .number({ error: 'expected a number of attempts' })
    .int('expected a whole number')
    .min(1, 'expected at least 1')
    .default(30),
  AUTH_ACCOUNT_LIMIT: z.coerce
    .number({ error: 'expected a number of attempts' })
    .int('expected a whole number')
    .min(1, 'expected at least 1')
    .default(10),
  TRUST_PROXY: z.coerce
    .number({ error: 'expected the number of reverse proxies in front of the API (0 for none)' })
    .int('expected a whole number of proxies')
    .min(0, 'expected 0 or more proxies')
    .max(10, 'expected at most 10 proxies')
    .default(0),
  OPENAI_API_KEY: optionalText,
  OPENAI_BASE_URL: optionalText.pipe(z.url('expected an http(s) URL, e.g. http://localhost:11434/v1').optional()),
  OPENAI_MODEL: z.string().trim().min(1).default('gpt-4o-mini'),
  OPENAI_IMAGE_MODEL: z.string().trim().min(1).default('gpt-image-1'),
  // Connected accounts (issue 9). Defaults are the real hosts; a platform without credentials is "not configured".
  PUBLIC_URL: optionalText.pipe(z.url('expected the public http(s) URL of the app').optional()),
  TOKEN_KEYS: optionalText,
  TOKEN_KEY_ID: optionalText.pipe(
    z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,32}$/, 'expected a key id of letters, digits, _ or - (at most 32)')
      .optional(),
  ),
  TIKTOK_CLIENT_KEY: optionalText,
  TIKTOK_CLIENT_SECRET: optionalText,
  TIKTOK_AUTH_URL: baseUrl('https://www.tiktok.com'),
  TIKTOK_API_URL: baseUrl('https://open.tiktokapis.com'),
  GOOGLE_CLIENT_ID: optionalText,
  GOOGLE_CLIENT_SECRET: optionalText,
  GOOGLE_AUTH_URL: baseUrl('https://accounts.google.com'),
  GOOGLE_TOKEN_URL: baseUrl('https://oauth2.googleapis.com'),
  YOUTUBE_API_URL: baseUrl('https://www.googleapis.com'),
  INSTAGRAM_APP_ID: optionalText,
  INSTAGRAM_APP_SECRET: optionalText,
  INSTAGRAM_AUTH_URL: baseUrl('https://www.instagram.com'),
  INSTAGRAM_API_URL: baseUrl('https://api.instagram.com'),
  INSTAGRAM_GRAPH_URL: baseUrl('https://graph.instagram.com'),
  FACEBOOK_APP_ID: optionalText,
  FACEBOOK_APP_SECRET: optionalText,
  FACEBOOK_AUTH_URL: baseUrl('https://www.facebook.com'),
  FACEBOOK_GRAPH_URL: baseUrl('https://graph.facebook.com'),
  FACEBOOK_GRAPH_VIDEO_URL: baseUrl('https://graph-video.facebook.com'),
  FACEBOOK_RUPLOAD_URL: baseUrl('https://rupload.facebook.com'),
  // No TikTok API reports the audit; an unaudited app may only post privately (platform-apis.md 1.6).
  TIKTOK_APP_AUDITED: z
    .enum(['true', 'false', '1', '0', ''], { error: 'expected true or false' })
    .default('false')
    .transform((v) => v === 'true' || v === '1'),
  // Unset: the main queue's name plus "-uploads" (see uploadTaskQueue).
  TEMPORAL_UPLOAD_TASK_QUEUE: optionalText,
  // Between status checks of a platform still processing an upload (TikTok publish_id, YouTube).
  PUBLISH_POLL_INTERVAL_MS: z.coerce
    .number({ error: 'expected milliseconds' })
    .int('expected whole milliseconds')
    .min(10, 'expected at least 10 ms')
    .max(600_000, 'expected at most 600000 ms')
    .default(5000),
  // Between status checks of an Instagram container: Instagram asks for once a minute (3.4).
  INSTAGRAM_POLL_INTERVAL_MS: z.coerce
    .number({ error: 'expected milliseconds' })
    .int('expected whole milliseconds')
    .min(10, 'expected at least 10 ms')
    .max(600_000, 'expected at most 600000 ms')
    .default(60_000),
  // Uploads running at once on one worker's upload queue.
  UPLOAD_WORKER_SLOTS: z.coerce
    .number({ error: 'expected a number of uploads' })
    .int('expected a whole number')
    .min(1, 'expected from 1 to 64')
    .max(64, 'expected from 1 to 64')
    .default(4),
  YOUTUBE_UNITS_PER_DAY: quota(10_000),
  YOUTUBE_INSERT_UNITS: quota(1600),
  YOUTUBE_INSERTS_PER_DAY: quota(100),
  YOUTUBE_THUMBNAIL_UNITS: quota(50),
  INSTAGRAM_POSTS_PER_DAY: quota(50),
  TIKTOK_INITS_PER_MINUTE: quota(6),
  TIKTOK_POSTS_PER_DAY: quota(15),
  TIKTOK_INBOX_SHARES_PER_DAY: quota(5),
  // Instagram containers per account per rolling 24 h (platform-apis.md 3.5); a carousel of 10 is 11.
  INSTAGRAM_CONTAINERS_PER_DAY: quota(400),
  FACEBOOK_REELS_PER_DAY: quota(30),
  FACEBOOK_GRAPH_VERSION: z
    .string()
    .trim()
    .regex(/^v\d+\.\d+$/, 'expected a Graph API version such as v26.0')
    .default('v26.0'),
  REVIEW_MAX_ROUNDS: z.coerce
    .number({ error: 'expected a number of rounds' })
    .int('expected a whole number')
    .min(0, 'expected from 0 to 10')
    .max(10, 'expected from 0 to 10')
    .default(3),
  RETRY_WINDOW_DAYS: z.coerce
    .number({ error: 'expected a number of days' })
    .int('expected a whole number of days')
    .min(0, 'expected 0 or more days')
    .max(90, 'expected at most 90 days')
    .default(7),
  LOG_LEVEL: z
    .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], {
      error: 'expected one of fatal, error, warn, info, debug, trace, silent',
    })
    .default('info'),
});

export type Env = z.infer<typeof envSchema>;

/** Every environment variable the app reads. */
export const CONFIG_VARIABLES = Object.keys(envSchema.shape);

export interface Config extends Omit<Env, 'DATA_DIR'> {
  /** Absolute. */
  DATA_DIR: string;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Reads and validates the environment; every bad value is reported by name at once. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): Config {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => {
      const name = String(issue.path[0] ?? '?');
      const got = env[name];
      return `${name}: ${issue.message}${got === undefined ? '' : ` (got ${JSON.stringify(redactIfSecret(name, got))})`}`;
    });
    throw new ConfigError(problems);
  }
  const dataDir = parsed.data.DATA_DIR;
  return { ...parsed.data, DATA_DIR: isAbsolute(dataDir) ? dataDir : resolve(cwd, dataDir) };
}

const SECRET_VARIABLES = new Set([
  'APP_SECRET',
  'DATABASE_URL',
  'OPENAI_API_KEY',
  'TOKEN_KEYS',
  'TIKTOK_CLIENT_SECRET',
  'GOOGLE_CLIENT_SECRET',
  'INSTAGRAM_APP_SECRET',
  'FACEBOOK_APP_SECRET',
]);

function redactIfSecret(name: string, value: string): string {
  return SECRET_VARIABLES.has(name) ? '[redacted]' : value;
}

/** Uploads run on their own queue so a long upload never holds back database work. */
export function uploadTaskQueue(config: Pick<Config, 'TEMPORAL_TASK_QUEUE' | 'TEMPORAL_UPLOAD_TASK_QUEUE'>): string {
  return config.TEMPORAL_UPLOAD_TASK_QUEUE ?? `${config.TEMPORAL_TASK_QUEUE}-uploads`;
}
