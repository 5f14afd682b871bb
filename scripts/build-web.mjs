// Bundles the dashboard (web/) into dist/web/ with esbuild: one script, one stylesheet, the HTML
// shell. Everything is served by the master from the package: no CDN, works without internet.
import * as esbuild from 'esbuild';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const out = path.join(root, 'dist', 'web');
fs.mkdirSync(out, { recursive: true });
await esbuild.build({
  entryPoints: [path.join(root, 'web', 'app.ts')],
  bundle: true,
  minify: true,
  format: 'esm',
  target: 'es2020',
  outfile: path.join(out, 'app.js'),
  logLevel: 'warning',
});
const css = fs.readFileSync(path.join(root, 'node_modules', 'uplot', 'dist', 'uPlot.min.css'), 'utf8') + '\n' + fs.readFileSync(path.join(root, 'web', 'style.css'), 'utf8');
fs.writeFileSync(path.join(out, 'app.css'), css);
fs.copyFileSync(path.join(root, 'web', 'index.html'), path.join(out, 'index.html'));
