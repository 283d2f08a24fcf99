import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

// The panel is plain Preact; Vite's built-in Oxc transform handles the JSX, so no plugin is needed.
export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: '/',
  logLevel: 'warn',
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: { outDir: 'dist', emptyOutDir: true, sourcemap: false, target: 'es2022' },
});
