#!/usr/bin/env node
// The import direction ARCHITECTURE.md describes, checked on every `npm run lint`. Biome's
// noRestrictedImports matches import strings, not the folders they resolve to, and cannot tell a
// type-only import from a value import; workflows may import activity TYPES only, so this reads the
// TypeScript syntax tree instead.
//
//   node scripts/check-imports.mjs [root]   exits 1 and lists every import that goes the wrong way
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

/**
 * The layers that depend on the rest. Everything else (db, storage, media, ai, auth, platforms, and
 * any new folder such as a vault) is a lower layer that may be imported by them but imports none of
 * them.
 */
const UPPER = [
  'api',
  'use-cases',
  'activities',
  'workflows',
  'composition',
  'privacy',
  'tests',
  'bench',
  'scripts',
  'emulators',
];
const except = (...allowed) => UPPER.filter((layer) => !allowed.includes(layer));

/**
 * What each top-level folder may import from the project (npm packages are not restricted here).
 * Either `values` (an allow-list) or `deny` (everything else is allowed); `types` are allowed as
 * `import type` only; `files` match single modules allowed beyond those. Any folder not listed is a
 * lower layer: DEFAULT_RULE.
 */
export const RULES = {
  domain: { values: ['domain'] },
  runtime: { values: ['runtime', 'domain'] },
  db: { values: ['db', 'domain', 'runtime'] },
  // Deterministic code: the workflow bundle must never pull in I/O.
  workflows: { values: ['workflows', 'domain'], types: ['activities', 'platforms'] },
  activities: { deny: except('activities', 'use-cases'), types: ['workflows'] },
  'use-cases': {
    deny: except('use-cases', 'privacy'),
    types: ['workflows'],
    // The Update and Query definitions (workflows/messages.ts, workflows/<name>-messages.ts) are
    // the workflows' public contract.
    files: [/^workflows\/([a-z0-9-]+-)?messages\.ts$/],
  },
  // Privacy never depends on the HTTP layer: an activity or a script can delete or export too.
  privacy: { deny: except('privacy', 'use-cases'), types: ['workflows'] },
  api: { deny: except('api', 'use-cases', 'privacy') },
  // The composition root wires everything; only entry points, tests and benchmarks import it.
  composition: { any: true },
  tests: { any: true },
  bench: { any: true },
  scripts: { any: true },
  // Stand-ins for the outside world; they may share the platforms' pure contract code (signatures).
  emulators: { deny: except('emulators') },
  // The panel runs in the browser: it talks to the API over HTTP and shares at most pure domain code.
  web: { values: ['web', 'domain'] },
  'client.ts': { values: ['domain'] },
  'start.ts': { values: ['composition', 'runtime', 'domain'] },
  // The test runner's configuration: its own helpers only (the file order, the summary).
  'vitest.config.ts': { values: ['tests'] },
  'worker.ts': { values: ['composition', 'runtime', 'domain'] },
};

/** Entry points: processes that build the system from the composition root. */
const ENTRY_POINTS = new Set(['api/server.ts', 'start.ts', 'worker.ts']);

/** Lower layers import no upper layer (workflow types excepted: they describe data). */
const DEFAULT_RULE = { deny: UPPER, types: ['workflows'] };

const SKIP = new Set(['node_modules', 'dist', 'data', '.tools', '.git', 'coverage']);

function listTsFiles(root, dir = root, out = []) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name.startsWith('.') || SKIP.has(entry.name)) continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) listTsFiles(root, path, out);
    else if (/\.(ts|mts)$/.test(entry.name) && !entry.name.endsWith('.d.ts')) out.push(relative(root, path));
  }
  return out;
}

/** The top-level folder of a project path ("api/routes/x.ts" -> "api"), or the file itself at the root. */
const layerOf = (path) => path.split(sep)[0];

/** Every project-relative import in one file, with whether it is type-only. */
function importsOf(root, file) {
  const text = readFileSync(join(root, file), 'utf8');
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const found = [];
  const add = (node, specifier, typeOnly) => {
    if (!specifier.startsWith('.')) return;
    const target = normalize(join(dirname(file), specifier)).replace(/\.js$/, '.ts');
    const { line } = source.getLineAndCharacterOfPosition(node.getStart());
    found.push({ specifier, target, typeOnly, line: line + 1 });
  };
  const visit = (node) => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      const clause = node.importClause;
      const typeOnly =
        !!clause &&
        (clause.isTypeOnly ||
          (!clause.name &&
            !!clause.namedBindings &&
            ts.isNamedImports(clause.namedBindings) &&
            clause.namedBindings.elements.length > 0 &&
            clause.namedBindings.elements.every((e) => e.isTypeOnly)));
      add(node, node.moduleSpecifier.text, typeOnly);
    } else if (ts.isExportDeclaration(node) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      add(node, node.moduleSpecifier.text, node.isTypeOnly);
    } else if (
      ts.isCallExpression(node) &&
      node.expression.kind === ts.SyntaxKind.ImportKeyword &&
      node.arguments[0] &&
      ts.isStringLiteral(node.arguments[0])
    ) {
      add(node, node.arguments[0].text, false);
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) {
      const literal = node.argument.literal;
      if (ts.isStringLiteral(literal)) add(node, literal.text, true);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

function allowed(file, target, typeOnly) {
  const from = layerOf(file);
  const to = layerOf(target);
  const rule = RULES[from] ?? DEFAULT_RULE;
  if (to === 'composition' && ENTRY_POINTS.has(file.split(sep).join('/'))) return true;
  if (rule.any || to === from) return true;
  if (typeOnly && (rule.types ?? []).includes(to)) return true;
  if ((rule.files ?? []).some((pattern) => pattern.test(target.split(sep).join('/')))) return true;
  if (rule.deny) return !rule.deny.includes(to) && !(to.endsWith('.ts') && to !== 'client.ts');
  return (rule.values ?? []).includes(to);
}

/** Every import under `root` that goes against RULES, as "file:line imports target" lines. */
export function checkImports(root) {
  const violations = [];
  for (const file of listTsFiles(root)) {
    for (const imp of importsOf(root, file)) {
      if (!allowed(file, imp.target, imp.typeOnly)) {
        violations.push(
          `${file}:${imp.line}: ${layerOf(file)} may not import ${imp.typeOnly ? 'types from ' : ''}${imp.target}`,
        );
      }
    }
  }
  return violations;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const root = process.argv[2] ?? fileURLToPath(new URL('..', import.meta.url));
  const violations = checkImports(root);
  if (violations.length > 0) {
    console.error(`Imports against the direction in ARCHITECTURE.md:\n  ${violations.join('\n  ')}`);
    process.exit(1);
  }
  console.log('Import direction: ok');
}
