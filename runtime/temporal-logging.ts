import { type LogLevel, type LogMetadata, Runtime } from '@temporalio/worker';
import { stdSerializers } from 'pino';
import { safeError, sanitizeError } from './errors.js';
import type { Logger } from './logger.js';

let installed = false;
let sdk: Logger | undefined;
let quiet = true;

/**
 * Sends the Temporal SDK's own log lines (worker state, workflow `log` calls) through our pino
 * logger, at warn and above unless debugging, so the console is not flooded with bundler output.
 * The SDK's runtime is installed once per process; a later call only changes where lines go.
 */
export function installTemporalLogging(logger: Logger): void {
  sdk = logger.child({ component: 'temporal-sdk' });
  quiet = !sdk.isLevelEnabled('debug');
  if (installed) return;
  installed = true;
  Runtime.install({
    logger: {
      log: (level: LogLevel, message: string, meta?: LogMetadata) => write(level, message, meta),
      trace: (message, meta) => write('TRACE', message, meta),
      debug: (message, meta) => write('DEBUG', message, meta),
      info: (message, meta) => write('INFO', message, meta),
      warn: (message, meta) => write('WARN', message, meta),
      error: (message, meta) => write('ERROR', message, meta),
    },
  });
}

function write(level: LogLevel, message: string, meta?: LogMetadata) {
  if (!sdk) return;
  // Workflow code logs business steps at info; the SDK's own info lines are chatter.
  const fromWorkflow = meta !== undefined && 'workflowId' in meta;
  if (quiet && !fromWorkflow && (level === 'INFO' || level === 'DEBUG' || level === 'TRACE')) return;
  // The upload worker runs activities only, by design; the SDK warns about that at every start.
  if (level === 'WARN' && message.startsWith('No workflows registered')) level = 'DEBUG';
  const method =
    level === 'TRACE'
      ? 'trace'
      : level === 'DEBUG'
        ? 'debug'
        : level === 'INFO'
          ? 'info'
          : level === 'WARN'
            ? 'warn'
            : 'error';
  sdk[method](cleanMeta(meta), message);
}

/** Errors the SDK logs (activity and workflow failures) never carry SQL or parameter values. */
function cleanMeta(meta: LogMetadata | undefined): Record<string, unknown> {
  if (!meta) return {};
  const clean: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(meta)) {
    // Serialised here: pino only does so under `err`, and the SDK logs them under `error`.
    clean[key] = value instanceof Error ? stdSerializers.err(safeError(sanitizeError(value))) : value;
  }
  return clean;
}
