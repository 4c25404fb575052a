// Bundles viewer/ for the browser with esbuild. The WGSL files are read from shaders/ at build
// time and served to the bundle as the virtual module 'earlyphase:shaders', so the browser and
// Node compile exactly the same shader text.
import { build, type Plugin } from 'esbuild';
import { copyFileSync, mkdirSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadShaders } from '../host/dawn.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

const shaderModule: Plugin = {
  name: 'earlyphase-shaders',
  setup(b) {
    b.onResolve({ filter: /^earlyphase:shaders$/ }, () => ({ path: 'shaders', namespace: 'earlyphase' }));
    b.onLoad({ filter: /.*/, namespace: 'earlyphase' }, () => ({
      contents: `export default ${JSON.stringify(loadShaders())};`, loader: 'js',
    }));
  },
};

/** Builds every viewer/*.ts page entry and copies the HTML next to it; returns the output folder. */
export async function buildViewer(outDir = join(ROOT, 'dist', 'viewer')): Promise<string> {
  mkdirSync(outDir, { recursive: true });
  const pages = readdirSync(join(ROOT, 'viewer')).filter((f) => f.endsWith('.html'));
  await build({
    entryPoints: pages.map((p) => join(ROOT, 'viewer', p.replace(/\.html$/, '.ts'))),
    outdir: outDir, bundle: true, format: 'esm', target: 'es2022', sourcemap: true, logLevel: 'warning',
    plugins: [shaderModule],
  });
  for (const p of pages) copyFileSync(join(ROOT, 'viewer', p), join(outDir, p));
  return outDir;
}
