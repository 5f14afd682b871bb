#!/usr/bin/env node
/**
 * `npm run build`'s second step: one file per SGE verb (dist/cli/<verb>.bundle.cjs), so a qsub
 * call loads one script instead of dozens of ES modules (Node resolves, reads and links each
 * one; on a busy machine that is a third of a call). bin/<verb> runs the bundle when it exists
 * and the plain dist/ modules otherwise.
 *
 * CommonJS, not ESM: Node runs a .cjs main without starting its ESM loader (which also loads
 * fs/promises, readline and the stream helpers); that is about 7 ms of CPU of every call.
 *
 * The bundles are made from tsc's output (dist/), so they run exactly the code the tests run.
 * Dynamic imports of project modules stay imports of dist/ (rewritten relative to the bundle):
 * they are loaded only on rare paths (wording an invalid answer or request with the full TypeBox
 * validator, pinning an https master), and bundling them would make every call parse them.
 */
import { existsSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cliDir = path.join(root, 'dist', 'cli');
/** The verbs a workflow engine calls per job or polls; `qfarm` (master, agent) stays unbundled. */
const VERBS = ['qsub', 'qstat', 'qdel', 'qhold', 'qrls', 'qalter', 'qacct', 'qhost', 'qmod'];

const keepDynamicImportsOutside = {
  name: 'keep-dynamic-imports-outside',
  setup(b) {
    b.onResolve({ filter: /^\.\.?\// }, (args) => {
      if (args.kind !== 'dynamic-import') return undefined;
      // The bundle sits in dist/cli/: the import names the same dist/ file from there.
      const fromBundle = path.relative(cliDir, path.resolve(args.resolveDir, args.path));
      return { path: fromBundle.startsWith('.') ? fromBundle : `./${fromBundle}`, external: true };
    });
  },
};

const missing = VERBS.filter((verb) => !existsSync(path.join(cliDir, `${verb}.js`)));
if (missing.length > 0) {
  process.stderr.write(`bundle-cli: dist/cli/{${missing.join(',')}}.js missing: run \`npx tsc -p tsconfig.json\` first\n`);
  process.exit(1);
}
// esbuild is a devDependency: an install without it keeps the plain dist/ modules, which bin/ runs.
let build;
try {
  ({ build } = await import('esbuild'));
} catch (err) {
  process.stderr.write(`bundle-cli: esbuild is not installed (${err.code ?? err.message}); bin/ will run the plain dist/ modules, a little slower to start\n`);
  process.exit(0);
}
const started = Date.now();
// Bundles of earlier builds were ES modules (.bundle.js); bin/ no longer runs them.
for (const verb of VERBS) rmSync(path.join(cliDir, `${verb}.bundle.js`), { force: true });
await Promise.all(
  VERBS.map((verb) =>
    build({
      entryPoints: [path.join(cliDir, `${verb}.js`)],
      outfile: path.join(cliDir, `${verb}.bundle.cjs`),
      bundle: true,
      platform: 'node',
      format: 'cjs',
      target: 'node20',
      // Third-party packages are bundled too; none of the CLI's needs a native addon.
      plugins: [keepDynamicImportsOutside],
      legalComments: 'none',
      logLevel: 'warning',
    }),
  ),
);
process.stdout.write(`bundle-cli: ${VERBS.length} CLI bundles in dist/cli/ (${Date.now() - started} ms)\n`);
