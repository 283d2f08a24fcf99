import { readFile } from 'node:fs/promises';
import { dirname, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * `tsx bench/profile-summary.ts <file.cpuprofile>... [--top N]`: where a `node --cpu-prof` profile
 * (e.g. the app process under `BENCH_APP_NODE_ARGS="--cpu-prof --cpu-prof-dir=DIR" npm run bench
 * -- pipeline`) spends its time. Prints, per file: self time by module (a package under
 * node_modules, a folder of this project, node's internals), self time by function, inclusive
 * time by module (counted once per sample), and time by the nearest frame of this project's own
 * code on the stack (which of our functions caused the library work beneath it).
 */

const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

const META = new Set(['(program)', '(garbage collector)', '(idle)', '(root)']);

export function moduleOf(frame: CallFrame): string {
  if (META.has(frame.functionName) && !frame.url) return frame.functionName;
  const url = frame.url;
  if (!url) return '(native)';
  if (url.startsWith('node:')) return `node:${url.slice(5).split('/')[0]}`;
  const path = url.startsWith('file://') ? fileURLToPath(url) : url;
  const nm = path.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const parts = path.slice(nm + 'node_modules/'.length).split('/');
    return parts[0]!.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]!;
  }
  // The workflow bundle is evaluated from a string: its frames have no file URL of ours.
  if (!path.startsWith('/')) return `(script) ${path.slice(0, 40)}`;
  const rel = relative(ROOT, path);
  if (rel.startsWith('..')) return path;
  const [top, ...rest] = rel.split('/');
  return rest.length > 0 ? `${top}/` : top!;
}

function isOwn(frame: CallFrame): boolean {
  const m = moduleOf(frame);
  return m.endsWith('/') || /\.(ts|js)$/.test(m);
}

function label(frame: CallFrame): string {
  const url = frame.url.startsWith('file://') ? fileURLToPath(frame.url) : frame.url;
  const where = url.startsWith(ROOT) ? relative(ROOT, url) : url.replace(/.*node_modules\//, '');
  return `${frame.functionName || '(anonymous)'} ${where}:${frame.lineNumber + 1}`;
}

function table(title: string, totals: Map<string, number>, all: number, top: number): string {
  const rows = [...totals.entries()].sort((a, b) => b[1] - a[1]).slice(0, top);
  const lines = rows.map(
    ([k, us]) => `${((100 * us) / all).toFixed(1).padStart(6)}%  ${(us / 1000).toFixed(0).padStart(7)} ms  ${k}`,
  );
  return [`-- ${title}`, ...lines].join('\n');
}

export async function summarise(file: string, top = 25, callers?: RegExp): Promise<string> {
  const profile = JSON.parse(await readFile(file, 'utf8')) as Profile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

  const selfByModule = new Map<string, number>();
  const selfByFunction = new Map<string, number>();
  const inclusiveByModule = new Map<string, number>();
  const byOwnCaller = new Map<string, number>();
  const stacksOf = new Map<string, number>();
  const inclusiveByFunction = new Map<string, number>();
  const add = (m: Map<string, number>, k: string, v: number) => m.set(k, (m.get(k) ?? 0) + v);
  let total = 0;
  let busy = 0;
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas[i] ?? 0;
    const node = byId.get(id)!;
    total += dt;
    const self = moduleOf(node.callFrame);
    add(selfByModule, self, dt);
    if (self === '(idle)') return;
    busy += dt;
    add(selfByFunction, `${label(node.callFrame)}  [${self}]`, dt);
    const seen = new Set<string>();
    const seenFunctions = new Set<string>();
    let own: string | undefined;
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const frame = byId.get(at)!.callFrame;
      const m = moduleOf(frame);
      if (!META.has(m)) seen.add(m);
      if (!seenFunctions.has(label(frame))) {
        seenFunctions.add(label(frame));
        add(inclusiveByFunction, label(frame), dt);
      }
      if (own === undefined && isOwn(frame)) own = label(frame);
    }
    for (const m of seen) add(inclusiveByModule, m, dt);
    if (callers?.test(label(node.callFrame))) {
      const chain: string[] = [];
      for (
        let at: number | undefined = id;
        at !== undefined && chain.length < (Number(process.env.PROFILE_DEPTH) || 8);
        at = parent.get(at)
      ) {
        chain.push(label(byId.get(at)!.callFrame));
      }
      add(stacksOf, chain.join('\n            <- '), dt);
    }
    add(byOwnCaller, own ?? `(no own frame) ${self}`, dt);
  });
  return [
    `== ${file}: ${(total / 1e6).toFixed(1)} s sampled, ${(busy / 1e6).toFixed(1)} s busy (percentages of busy time below, self by module of all)`,
    table('self time by module (% of all samples)', selfByModule, total, top),
    table('self time by function', selfByFunction, busy, top),
    table('inclusive time by module', inclusiveByModule, busy, top),
    table('inclusive time by function', inclusiveByFunction, busy, top * 2),
    table('time by nearest own frame', byOwnCaller, busy, top),
    ...(callers ? [table(`stacks under ${callers}`, stacksOf, busy, 12)] : []),
  ].join('\n');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const args = process.argv.slice(2);
  const topAt = args.indexOf('--top');
  const top = topAt >= 0 ? Number(args[topAt + 1]) : 25;
  const callersAt = args.indexOf('--callers');
  const callers = callersAt >= 0 ? new RegExp(args[callersAt + 1]!) : undefined;
  const skip = new Set([topAt, callersAt].filter((i) => i >= 0).flatMap((i) => [i, i + 1]));
  const files = args.filter((_, i) => !skip.has(i));
  for (const file of files) console.log(`${await summarise(file, top, callers)}\n`);
}
