import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, isAbsolute, join } from 'node:path';

// Where ffmpeg and ffprobe live, and one way to run them. The system's binaries are used (Debian's
// `ffmpeg` package): no download at run time, and security updates come with the OS.

export interface MediaTools {
  ffmpeg: string;
  ffprobe: string;
}

export class MediaToolsMissingError extends Error {
  constructor(readonly missing: string[]) {
    super(
      `${missing.join(' and ')} not found: install Debian's "ffmpeg" package (apt-get install ffmpeg), ` +
        'or set FFMPEG_PATH and FFPROBE_PATH to the binaries.',
    );
    this.name = 'MediaToolsMissingError';
  }
}

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function findOnPath(name: string, pathVariable: string): string | undefined {
  for (const dir of pathVariable.split(delimiter)) {
    if (dir && executable(join(dir, name))) return join(dir, name);
  }
  return undefined;
}

/** FFMPEG_PATH / FFPROBE_PATH when set, else the first on PATH; throws in words when either is missing. */
export function findMediaTools(
  config: { FFMPEG_PATH?: string; FFPROBE_PATH?: string },
  pathVariable = process.env.PATH ?? '',
): MediaTools {
  const locate = (configured: string | undefined, name: string) =>
    configured
      ? isAbsolute(configured) && executable(configured)
        ? configured
        : findOnPath(configured, pathVariable)
      : findOnPath(name, pathVariable);
  const ffmpeg = locate(config.FFMPEG_PATH, 'ffmpeg');
  const ffprobe = locate(config.FFPROBE_PATH, 'ffprobe');
  const missing = [ffmpeg ? undefined : 'ffmpeg', ffprobe ? undefined : 'ffprobe'].filter((m) => m !== undefined);
  if (!ffmpeg || !ffprobe) throw new MediaToolsMissingError(missing);
  return { ffmpeg, ffprobe };
}

export class MediaToolError extends Error {
  constructor(
    message: string,
    readonly exitCode: number | null,
    readonly stderrTail: string,
  ) {
    super(message);
    this.name = 'MediaToolError';
  }
}

export interface RunOptions {
  /** Called with each complete stdout line; stdout is then not collected. */
  onLine?: (line: string) => void;
  /** Most stdout bytes kept when collecting (ffprobe's JSON is a few kilobytes). */
  maxStdoutBytes?: number;
  signal?: AbortSignal;
}

const STDERR_TAIL = 4096;

/**
 * Runs a tool to completion. Memory stays bounded whatever the input: stdout is either streamed
 * line by line or capped, and only the tail of stderr is kept for the error message.
 */
export function runTool(command: string, args: string[], options: RunOptions = {}): Promise<string> {
  const maxStdout = options.maxStdoutBytes ?? 16 * 1024 * 1024;
  return new Promise((resolve, reject) => {
    if (options.signal?.aborted) {
      reject(options.signal.reason ?? new Error('aborted'));
      return;
    }
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const chunks: Buffer[] = [];
    let collected = 0;
    let overflow = false;
    let pending = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      if (options.onLine) {
        pending += chunk.toString('utf8');
        const lines = pending.split('\n');
        pending = lines.pop() ?? '';
        for (const line of lines) options.onLine(line.trimEnd());
        return;
      }
      collected += chunk.length;
      if (collected > maxStdout) overflow = true;
      else chunks.push(chunk);
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString('utf8')).slice(-STDERR_TAIL);
    });
    const onAbort = () => child.kill('SIGKILL');
    options.signal?.addEventListener('abort', onAbort, { once: true });
    child.on('error', (error) => {
      options.signal?.removeEventListener('abort', onAbort);
      reject(new MediaToolError(`${command} could not be started: ${error.message}`, null, ''));
    });
    child.on('close', (code, signal) => {
      options.signal?.removeEventListener('abort', onAbort);
      if (pending && options.onLine) options.onLine(pending.trimEnd());
      if (options.signal?.aborted) {
        reject(options.signal.reason ?? new Error('aborted'));
        return;
      }
      if (code !== 0) {
        const reason = lastMeaningfulLine(stderr) ?? (signal ? `killed by ${signal}` : `exit code ${code}`);
        reject(new MediaToolError(reason, code, stderr));
        return;
      }
      if (overflow) {
        reject(new MediaToolError(`${command} wrote more than ${maxStdout} bytes`, code, stderr));
        return;
      }
      resolve(Buffer.concat(chunks).toString('utf8'));
    });
  });
}

function lastMeaningfulLine(stderr: string): string | undefined {
  const lines = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('Conversion failed'));
  return lines.at(-1);
}
