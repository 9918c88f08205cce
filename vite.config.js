// Builds the viewer (www/) into www/dist. The page imports `runledger` exactly as a user's
// app does; here that name points at this repository's own build output (pkg/).
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

export default defineConfig({
  root: fileURLToPath(new URL('./www', import.meta.url)),
  base: './',
  resolve: { alias: { runledger: fileURLToPath(new URL('./pkg/browser.js', import.meta.url)) } },
  build: { outDir: 'dist', emptyOutDir: true, target: 'es2022', chunkSizeWarningLimit: 800 },
  logLevel: 'warn',
});
