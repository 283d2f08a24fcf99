import { type LogLevel, type LogMetadata, Runtime } from '@temporalio/worker';
import { safeError, sanitizeError } from './errors.js';
import type { Logger } from './logger.js';

let installed = false;

/**
 * Sends the Temporal SDK's own log lines (worker state, workflow `log` calls) through our pino
 * logger, at warn and above unless debugging, so the console is not flooded with bundler output.
 */
export function installTemporalLogging(logger: Logger): void {
  if (installed) return;
  installed = true;
  const sdk = logger.child({ component: 'temporal-sdk' });
  const quiet = !sdk.isLevelEnabled('debug');
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

  function write(level: LogLevel, message: string, meta?: LogMetadata) {
    // Workflow code logs business steps at info; the SDK's own info lines are chatter.
    const fromWorkflow = meta !== undefined && 'workflowId' in meta;
    if (quiet && !fromWorkflow && (level === 'INFO' || level === 'DEBUG' || level === 'TRACE')) return;
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
}

/** Errors the SDK logs (activity and workflow failures) never carry SQL or parameter values. */
function cleanMeta(meta: LogMetadata | undefined): Record<string, unknown> {
  if (!meta) return {};
  const clean: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(meta)) {
    clean[key] = value instanceof Error ? safeError(sanitizeError(value)) : value;
  }
  return clean;
}
