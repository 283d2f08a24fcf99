import { isMain, runMain, shutdownSignal } from '../runtime/process.js';
import { EMULATOR_MODEL, startOpenAiEmulator } from './openai.js';

const DEFAULT_PORT = 8787;

function portFromEnv(value: string | undefined): number {
  if (value === undefined || value.trim() === '') return DEFAULT_PORT;
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new Error(`EMULATOR_OPENAI_PORT must be a port number (0-65535), not "${value}".`);
  }
  return port;
}

/** `npm run emulators`: the OpenAI emulator on a fixed port, for demos and manual testing. */
async function main() {
  const emulator = await startOpenAiEmulator({
    port: portFromEnv(process.env.EMULATOR_OPENAI_PORT),
    host: '127.0.0.1',
    onLog: (line) => console.log(`[openai-emulator] ${line}`),
  });
  const control = emulator.url.replace(/\/v1$/, '/_emulator');
  console.log(
    [
      `OpenAI emulator listening on ${emulator.url}`,
      `Point the app at it: OPENAI_BASE_URL=${emulator.url} OPENAI_MODEL=${EMULATOR_MODEL} (any OPENAI_API_KEY works)`,
      'Fault injection and inspection:',
      `  POST ${control}/faults    body: [{"kind":"rate_limit","retryAfterSeconds":1}|{"kind":"server_error"}|{"kind":"bad_request","message":"…"}|{"kind":"malformed"}]`,
      `  POST ${control}/latency   body: {"ms":500}`,
      `  GET  ${control}/requests`,
      `  POST ${control}/reset`,
      'Press Ctrl+C to stop.',
    ].join('\n'),
  );
  await shutdownSignal();
  await emulator.stop();
}

if (isMain(import.meta.url)) runMain(main);
