import type { Config } from '../runtime/config.js';
import { type Connector, PLATFORM_NAMES, PLATFORMS, type Platform, redirectUriFor } from './connector.js';
import { createFacebookConnector } from './facebook/connector.js';
import type { MetaAppSettings } from './facebook/graph.js';
import type { ConnectorDeps } from './http.js';
import { createInstagramConnector } from './instagram/connector.js';
import { createTikTokConnector } from './tiktok/connector.js';
import { createYouTubeConnector } from './youtube/connector.js';

export type ConnectorConfig = Pick<
  Config,
  | 'TIKTOK_CLIENT_KEY'
  | 'TIKTOK_CLIENT_SECRET'
  | 'TIKTOK_AUTH_URL'
  | 'TIKTOK_API_URL'
  | 'GOOGLE_CLIENT_ID'
  | 'GOOGLE_CLIENT_SECRET'
  | 'GOOGLE_AUTH_URL'
  | 'GOOGLE_TOKEN_URL'
  | 'YOUTUBE_API_URL'
  | 'INSTAGRAM_APP_ID'
  | 'INSTAGRAM_APP_SECRET'
  | 'INSTAGRAM_AUTH_URL'
  | 'INSTAGRAM_API_URL'
  | 'INSTAGRAM_GRAPH_URL'
  | 'FACEBOOK_APP_ID'
  | 'FACEBOOK_APP_SECRET'
  | 'FACEBOOK_AUTH_URL'
  | 'FACEBOOK_GRAPH_URL'
  | 'FACEBOOK_GRAPH_VERSION'
>;

/** Which credentials a platform lacks, by variable name; empty when it is configured. */
export function missingVariables(config: ConnectorConfig, platform: Platform): string[] {
  const needed: Record<Platform, (keyof ConnectorConfig)[]> = {
    tiktok: ['TIKTOK_CLIENT_KEY', 'TIKTOK_CLIENT_SECRET'],
    youtube: ['GOOGLE_CLIENT_ID', 'GOOGLE_CLIENT_SECRET'],
    instagram: ['INSTAGRAM_APP_ID', 'INSTAGRAM_APP_SECRET'],
    facebook: ['FACEBOOK_APP_ID', 'FACEBOOK_APP_SECRET'],
  };
  const missing = (names: (keyof ConnectorConfig)[]) => names.filter((name) => !config[name]);
  // Instagram works through a Page with the Facebook app alone.
  if (platform === 'instagram' && missing(needed.facebook).length === 0) return [];
  return missing(needed[platform]);
}

export class PlatformNotConfiguredError extends Error {
  override name = 'PlatformNotConfiguredError';
  constructor(
    readonly platform: Platform,
    readonly missing: string[],
  ) {
    super(
      `${PLATFORM_NAMES[platform]} is not configured: set ${missing.join(' and ')} (see docs/setup/${platform}.md).`,
    );
  }
}

export interface PlatformStatus {
  platform: Platform;
  configured: boolean;
  /** Variables still to set; names only, never values. */
  missing: string[];
  /** Instagram only: which logins are available. */
  via?: ('instagram' | 'facebook')[];
}

export interface ConnectorRegistry {
  /** The connector, or PlatformNotConfiguredError naming the variables to set. */
  get(platform: Platform): Connector;
  isConfigured(platform: Platform): boolean;
  status(): PlatformStatus[];
  redirectUri(platform: Platform): string;
}

/** One connector per platform whose credentials are set; the others answer "not configured". */
export function createConnectorRegistry(
  config: ConnectorConfig,
  /** A function when the URL is known only once the API listens (PUBLIC_URL's default). */
  publicUrl: string | (() => string),
  deps: ConnectorDeps = {},
): ConnectorRegistry {
  const facebookApp: MetaAppSettings | null =
    config.FACEBOOK_APP_ID && config.FACEBOOK_APP_SECRET
      ? {
          appId: config.FACEBOOK_APP_ID,
          appSecret: config.FACEBOOK_APP_SECRET,
          authUrl: config.FACEBOOK_AUTH_URL,
          graphUrl: config.FACEBOOK_GRAPH_URL,
          version: config.FACEBOOK_GRAPH_VERSION,
        }
      : null;
  const instagramLogin = Boolean(config.INSTAGRAM_APP_ID && config.INSTAGRAM_APP_SECRET);
  const connectors: Partial<Record<Platform, Connector>> = {};
  if (config.TIKTOK_CLIENT_KEY && config.TIKTOK_CLIENT_SECRET) {
    connectors.tiktok = createTikTokConnector(
      {
        clientKey: config.TIKTOK_CLIENT_KEY,
        clientSecret: config.TIKTOK_CLIENT_SECRET,
        authUrl: config.TIKTOK_AUTH_URL,
        apiUrl: config.TIKTOK_API_URL,
      },
      deps,
    );
  }
  if (config.GOOGLE_CLIENT_ID && config.GOOGLE_CLIENT_SECRET) {
    connectors.youtube = createYouTubeConnector(
      {
        clientId: config.GOOGLE_CLIENT_ID,
        clientSecret: config.GOOGLE_CLIENT_SECRET,
        authUrl: config.GOOGLE_AUTH_URL,
        tokenUrl: config.GOOGLE_TOKEN_URL,
        apiUrl: config.YOUTUBE_API_URL,
      },
      deps,
    );
  }
  if (instagramLogin || facebookApp) {
    connectors.instagram = withInstagramGuard(
      createInstagramConnector(
        {
          appId: config.INSTAGRAM_APP_ID ?? '',
          appSecret: config.INSTAGRAM_APP_SECRET ?? '',
          authUrl: config.INSTAGRAM_AUTH_URL,
          apiUrl: config.INSTAGRAM_API_URL,
          graphUrl: config.INSTAGRAM_GRAPH_URL,
          version: config.FACEBOOK_GRAPH_VERSION,
        },
        facebookApp,
        deps,
      ),
      instagramLogin,
    );
  }
  if (facebookApp) connectors.facebook = createFacebookConnector(facebookApp, deps);

  return {
    get(platform) {
      const connector = connectors[platform];
      if (!connector) throw new PlatformNotConfiguredError(platform, missingVariables(config, platform));
      return connector;
    },
    isConfigured: (platform) => connectors[platform] !== undefined,
    status: () =>
      PLATFORMS.map((platform) => {
        const configured = connectors[platform] !== undefined;
        const status: PlatformStatus = {
          platform,
          configured,
          missing: configured ? [] : missingVariables(config, platform),
        };
        if (platform === 'instagram' && configured) {
          status.via = [
            ...(instagramLogin ? (['instagram'] as const) : []),
            ...(facebookApp ? (['facebook'] as const) : []),
          ];
        }
        return status;
      }),
    redirectUri: (platform) => redirectUriFor(typeof publicUrl === 'function' ? publicUrl() : publicUrl, platform),
  };
}

/** With only the Facebook app set, Instagram Login is "not configured" while `via: facebook` works. */
function withInstagramGuard(connector: Connector, loginConfigured: boolean): Connector {
  if (loginConfigured) return connector;
  const refuse = () => {
    throw new PlatformNotConfiguredError('instagram', ['INSTAGRAM_APP_ID', 'INSTAGRAM_APP_SECRET']);
  };
  return {
    ...connector,
    buildAuthorizeUrl: (input) => (input.via === 'facebook' ? connector.buildAuthorizeUrl(input) : refuse()),
    exchangeCode: (input) => (input.via === 'facebook' ? connector.exchangeCode(input) : refuse()),
  };
}
