import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { basename, delimiter, isAbsolute, join } from 'node:path';

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
    /** The signal that ended the process, if one did. */
    readonly signal: NodeJS.Signals | null = null,
  ) {
    super(message);
    this.name = 'MediaToolError';
  }

  /**
   * The machine's trouble, not the input's, so another try may succeed: the process was killed
   * (the kernel's OOM killer sends SIGKILL, a stopping machine SIGTERM) or the disk was full. A
   * crash (SIGSEGV, SIGABRT) is the input's doing and would only crash again.
   */
  get passing(): boolean {
    return this.signal === 'SIGKILL' || this.signal === 'SIGTERM' || DISK_FULL.test(this.stderrTail);
  }
}

const DISK_FULL = /No space left on device|Disk quota exceeded/i;

/**
 * A tool that ran past its deadline and was killed for it. It counts as `passing` (the SIGKILL):
 * where a file already read fine once (a render), a busy machine is the likelier cause.
 */
export class MediaToolTimeoutError extends MediaToolError {
  constructor(
    tool: string,
    readonly timeoutMs: number,
    stderrTail: string,
    readonly how: 'unfinished' | 'stalled' = 'unfinished',
  ) {
    super(
      how === 'stalled'
        ? `${tool} made no progress for ${formatSeconds(timeoutMs)} and was stopped`
        : `${tool} did not finish within ${formatSeconds(timeoutMs)}`,
      null,
      stderrTail,
      'SIGKILL',
    );
    this.name = 'MediaToolTimeoutError';
  }

  /**
   * Running out of time may be a busy machine; five minutes without any progress is the input's
   * doing, and every retry would wait as long again.
   */
  override get passing(): boolean {
    return this.how !== 'stalled';
  }
}

/** "30 s", or "0.5 s" for the short deadlines tests use. */
export function formatSeconds(ms: number): string {
  return ms < 10_000 ? `${Number((ms / 1000).toFixed(1))} s` : `${Math.round(ms / 1000)} s`;
}

/** What stands for a path of ours in a tool's words: users and the database never see the data directory. */
const NEUTRAL = 'the file';

/**
 * `text` with every one of `paths` replaced by a neutral word. ffmpeg and ffprobe name their input
 * and output in their messages ("/data/media/.incoming/<id>: Invalid data found when processing
 * input"), and those messages reach the person who uploaded the file and the post's record.
 */
export function withoutPaths(text: string, paths: readonly string[]): string {
  let clean = text;
  // Longest first: an output named after its input ("<input>.partial") goes as a whole.
  for (const path of [...new Set(paths)].filter(Boolean).sort((a, b) => b.length - a.length)) {
    clean = clean.replaceAll(path, NEUTRAL);
  }
  return clean;
}

/** The arguments that name files: absolute paths, each `-i` input and the last (the output, or ffprobe's input). */
function pathsIn(args: readonly string[]): string[] {
  return args.filter(
    (arg, i) => isAbsolute(arg) || args[i - 1] === '-i' || (i === args.length - 1 && !arg.startsWith('-')),
  );
}

export interface RunOptions {
  /** Called with each complete stdout line; stdout is then not collected. */
  onLine?: (line: string) => void;
  /** Most stdout bytes kept when collecting (ffprobe's JSON is a few kilobytes). */
  maxStdoutBytes?: number;
  signal?: AbortSignal;
  /**
   * The tool is killed (SIGKILL) when it has not finished after this long, and the promise rejects
   * with MediaToolTimeoutError: a crafted file can make ffmpeg or ffprobe spin or block forever.
   */
  timeoutMs?: number;
  /**
   * The tool is killed (SIGKILL) when it has written nothing to stdout for this long: for ffmpeg
   * with `-progress pipe:1`, which reports twice a second while it works, silence means it is stuck,
   * and a stuck encode would otherwise hold its attempt until the activity's hours-long timeout.
   */
  stallTimeoutMs?: number;
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
    const tool = basename(command);
    let timedOut = false;
    const deadline =
      options.timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            timedOut = true;
            child.kill('SIGKILL');
          }, options.timeoutMs);
    let stalled = false;
    let watchdog: NodeJS.Timeout | undefined;
    const watch = () => {
      if (options.stallTimeoutMs === undefined) return;
      clearTimeout(watchdog);
      watchdog = setTimeout(() => {
        stalled = true;
        child.kill('SIGKILL');
      }, options.stallTimeoutMs);
    };
    watch();
    const chunks: Buffer[] = [];
    let collected = 0;
    let overflow = false;
    let pending = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      watch();
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
    const paths = pathsIn(args);
    const onAbort = () => child.kill('SIGKILL');
    options.signal?.addEventListener('abort', onAbort, { once: true });
    child.on('error', (error) => {
      clearTimeout(deadline);
      clearTimeout(watchdog);
      options.signal?.removeEventListener('abort', onAbort);
      reject(new MediaToolError(`${tool} could not be started: ${withoutPaths(error.message, [command])}`, null, ''));
    });
    child.on('close', (code, signal) => {
      clearTimeout(deadline);
      clearTimeout(watchdog);
      options.signal?.removeEventListener('abort', onAbort);
      if (pending && options.onLine) options.onLine(pending.trimEnd());
      if (options.signal?.aborted) {
        reject(options.signal.reason ?? new Error('aborted'));
        return;
      }
      // A tail cut mid-line may start with the end of a path, which no replacement would match.
      const whole = stderr.length < STDERR_TAIL ? stderr : stderr.slice(stderr.indexOf('\n') + 1);
      const tail = withoutPaths(whole, paths);
      if (timedOut) {
        reject(new MediaToolTimeoutError(tool, options.timeoutMs!, tail));
        return;
      }
      if (stalled) {
        reject(new MediaToolTimeoutError(tool, options.stallTimeoutMs!, tail, 'stalled'));
        return;
      }
      if (code !== 0) {
        // Killed, its last words are whatever it was doing at the time, not why it stopped.
        const reason = signal ? `killed by ${signal}` : (lastMeaningfulLine(tail) ?? `exit code ${code}`);
        reject(new MediaToolError(reason, code, tail, signal));
        return;
      }
      if (overflow) {
        reject(new MediaToolError(`${tool} wrote more than ${maxStdout} bytes`, code, tail));
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
