import { isMain, runMain, shutdownSignal } from '../runtime/process.js';
import { startFacebookEmulator } from './facebook.js';
import { startGoogleEmulator } from './google.js';
import { startInstagramEmulator } from './instagram.js';
import { EMULATOR_MODEL, startOpenAiEmulator } from './openai.js';
import { startTikTokEmulator } from './tiktok.js';

const DEFAULT_PORTS = {
  EMULATOR_OPENAI_PORT: 8787,
  EMULATOR_TIKTOK_PORT: 8788,
  EMULATOR_GOOGLE_PORT: 8789,
  EMULATOR_INSTAGRAM_PORT: 8790,
  EMULATOR_FACEBOOK_PORT: 8791,
} as const;

function portFromEnv(name: keyof typeof DEFAULT_PORTS): number {
  const value = process.env[name];
  if (value === undefined || value.trim() === '') return DEFAULT_PORTS[name];
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new Error(`${name} must be a port number (0-65535), not "${value}".`);
  }
  return port;
}

/**
 * `npm run emulators`: the OpenAI emulator and the four platform emulators on fixed ports, for
 * demos and manual testing: connect accounts with no developer app at all.
 */
async function main() {
  const host = '127.0.0.1';
  const log = (name: string) => (line: string) => console.log(`[${name}-emulator] ${line}`);
  const openai = await startOpenAiEmulator({ port: portFromEnv('EMULATOR_OPENAI_PORT'), host, onLog: log('openai') });
  const platforms = [
    await startTikTokEmulator({ port: portFromEnv('EMULATOR_TIKTOK_PORT'), host, onLog: log('tiktok') }),
    await startGoogleEmulator({ port: portFromEnv('EMULATOR_GOOGLE_PORT'), host, onLog: log('google') }),
    await startInstagramEmulator({ port: portFromEnv('EMULATOR_INSTAGRAM_PORT'), host, onLog: log('instagram') }),
    await startFacebookEmulator({ port: portFromEnv('EMULATOR_FACEBOOK_PORT'), host, onLog: log('facebook') }),
  ];
  const [tiktok, google, instagram, facebook] = platforms;
  const control = openai.url.replace(/\/v1$/, '/_emulator');
  const variables = platforms.flatMap((p) => Object.entries(p.env).map(([k, v]) => `${k}=${v}`));
  console.log(
    [
      `OpenAI emulator listening on ${openai.url}`,
      `Point the app at it: OPENAI_BASE_URL=${openai.url} OPENAI_MODEL=${EMULATOR_MODEL} (any OPENAI_API_KEY works)`,
      'Fault injection and inspection:',
      `  POST ${control}/faults    body: [{"kind":"rate_limit","retryAfterSeconds":1}|{"kind":"server_error"}|{"kind":"bad_request","message":"…"}|{"kind":"malformed"}]`,
      `  POST ${control}/latency   body: {"ms":500}`,
      `  GET  ${control}/requests`,
      `  POST ${control}/reset`,
      '',
      `Platform emulators: TikTok ${tiktok?.url}, Google/YouTube ${google?.url}, Instagram ${instagram?.url}, Facebook ${facebook?.url}`,
      'Their consent screens approve at once, so "Connect" in the app goes straight back to it.',
      'Set these for the app (PUBLIC_URL may stay http://; the emulators accept any redirect URI):',
      ...variables.map((line) => `  ${line}`),
      'Control (on each platform emulator):',
      '  POST /__control/faults    body: [{"kind":"server_error"|"rate_limit"|"invalid_grant"|"deny_consent","on":"authorize"|"token"|"refresh"|"profile"|"revoke"|"any"}]',
      '  POST /__control/clock     body: {"advanceSeconds":90000}',
      '  POST /__control/consent   body: {"user":{…},"scopes":[…]} (Facebook: "permissions")',
      '  POST /__control/lifetimes, POST /__control/deauthorize, GET /__control/violations, GET /__control/requests, POST /__control/reset',
      '  Publishing: GET /__control/publishing/published (and /published/<id>/media/<n> for the bytes), POST /__control/publishing/faults [{"kind":"server_error"|"rate_limit"|"drop"|"token_expired","on":"<endpoint>"}], POST /__control/publishing/switches {…}, POST /__control/publishing/token',
      '  Instagram only: POST /__control/token-shape {"shape":"data"|"flat"}; TikTok only: POST /__control/oauth-error-status {"status":200|400}',
      'Press Ctrl+C to stop.',
    ].join('\n'),
  );
  await shutdownSignal();
  await Promise.all([openai.stop(), ...platforms.map((p) => p.stop())]);
}

if (isMain(import.meta.url)) runMain(main);
