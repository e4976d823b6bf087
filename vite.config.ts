import { fileURLToPath } from 'node:url';
import { vitePlugin as remix } from '@remix-run/dev';
import tailwindcss from '@tailwindcss/vite';
import { defineConfig } from 'vite';

declare module '@remix-run/node' {
  interface Future {
    v3_singleFetch: true;
  }
}

// The Remix app lives in web/ but shares the root package.json, so the config sits at the root.
// `.mjs` keeps the server build ESM under a CommonJS root package.
export default defineConfig(({ isSsrBuild }) => ({
  // The server build stays one file: a chunk of its own (as a lazy import makes) would be a `.js`
  // file, which Node reads as CommonJS under this package.
  build: isSsrBuild ? { rollupOptions: { output: { inlineDynamicImports: true } } } : {},
  resolve: {
    alias: { '~': fileURLToPath(new URL('./web/app', import.meta.url)) },
  },
  plugins: [
    tailwindcss(),
    remix({
      appDirectory: 'web/app',
      buildDirectory: 'web/build',
      serverBuildFile: 'index.mjs',
      future: {
        v3_fetcherPersist: true,
        v3_relativeSplatPath: true,
        v3_throwAbortReason: true,
        v3_singleFetch: true,
        v3_lazyRouteDiscovery: true,
      },
    }),
  ],
}));
