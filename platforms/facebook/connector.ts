import {
  type ConnectedAccount,
  type Connector,
  ConnectorError,
  DAY_MS,
  type Profile,
  parseStandardCallback,
} from '../connector.js';
import type { ConnectorDeps } from '../http.js';
import { createMetaLogin, type MetaAppSettings, missingPermissions, type PageEntry } from './graph.js';

export type FacebookSettings = MetaAppSettings;

const SCOPES = ['pages_show_list', 'pages_read_engagement', 'pages_manage_posts'];
/**
 * Asked for, not required: the Posts guide requires `publish_video` for Page videos, the video
 * publishing guide does not list it (platform-apis.md section 5). Asking covers the first reading;
 * a person who declines it can still post text, photos and Reels.
 */
const REQUESTED = [...SCOPES, 'publish_video'];
const COMMA = /,/;
/** Page tokens have no expiry by time; a daily look notices a revoked grant or a lost Page role. */
const CHECK_EVERY_MS = DAY_MS;

/**
 * Facebook Pages (platform-apis.md 4.1): long-lived user token -> one Page token per Page the person
 * may post to; the person then picks which Pages to connect. No refresh token exists.
 */
export function createFacebookConnector(settings: FacebookSettings, deps: ConnectorDeps = {}): Connector {
  const login = createMetaLogin('facebook', settings, deps);

  async function readPage(pageId: string, pageToken: string): Promise<Profile> {
    const page = await login.graphGet('Page request', pageId, { fields: 'id,name,picture' }, [], 'use', pageToken);
    const picture = page.picture as { data?: { url?: unknown } } | undefined;
    return {
      platformAccountId: String(page.id ?? pageId),
      displayName: typeof page.name === 'string' ? page.name : pageId,
      avatarUrl: typeof picture?.data?.url === 'string' ? picture.data.url : null,
    };
  }

  return {
    platform: 'facebook',
    scopes: () => [...REQUESTED],
    buildAuthorizeUrl: ({ state, redirectUri }) => ({
      url: login.authorizeUrl(REQUESTED, state, redirectUri),
      codeVerifier: null,
    }),
    parseCallback: (query) => parseStandardCallback('facebook', query, COMMA),
    async exchangeCode({ code, redirectUri }) {
      const grant = await login.userGrant(code, redirectUri);
      const refused = missingPermissions('facebook', grant.permissions, SCOPES);
      if (refused) {
        await login.revokeGrant(grant.userToken).catch(() => undefined);
        throw refused;
      }
      const pages = (await login.pages(grant.userToken)).filter(canPost);
      if (pages.length === 0) {
        await login.revokeGrant(grant.userToken).catch(() => undefined);
        throw new ConnectorError(
          'facebook',
          'denied',
          'No Facebook Page you may post to was shared. Connect again and select at least one Page where you can create content.',
        );
      }
      const accounts: ConnectedAccount[] = pages.map((page) => ({
        profile: { platformAccountId: page.id, displayName: page.name, avatarUrl: page.pictureUrl },
        credentials: {
          accessToken: page.accessToken,
          // A Page token from a long-lived user token does not expire by time.
          accessTokenExpiresAt: null,
          refreshToken: null,
          refreshTokenExpiresAt: null,
          userToken: grant.userToken,
          userTokenExpiresAt: grant.userTokenExpiresAt,
          scopes: grant.permissions,
          issuedAt: grant.issuedAt,
        },
        via: null,
        grantKey: `facebook:${grant.userId}`,
      }));
      return { accounts, mustChoose: true };
    },
    async refresh() {
      throw new ConnectorError(
        'facebook',
        'rejected',
        'Facebook Page tokens cannot be refreshed; they stay valid until the grant ends, then the Page must be connected again.',
      );
    },
    readProfile: (account, credentials) => readPage(account.platformAccountId, credentials.accessToken),
    revoke: (_account, credentials) => login.revokeGrant(credentials.userToken),
    renewalPlan: (_account, _credentials, at) => ({ action: 'check', at: new Date(at.getTime() + CHECK_EVERY_MS) }),
  };
}

/** The person must be able to create content on the Page; older answers carry no `tasks` at all. */
function canPost(page: PageEntry): boolean {
  return page.tasks === null || page.tasks.includes('CREATE_CONTENT') || page.tasks.includes('MANAGE');
}
