import { builtinModules } from 'node:module';
import { fileURLToPath } from 'node:url';
import { vitePlugin as remix } from '@remix-run/dev';
import tailwindcss from '@tailwindcss/vite';
import { defineConfig, type Plugin } from 'vite';

declare module '@remix-run/node' {
  interface Future {
    v3_singleFetch: true;
  }
}

/**
 * A Node built-in imported by browser code fails the build. Vite would replace it with an empty
 * object (a warning, and an error only when the code runs), leaving no trace in the bundle for
 * scripts/check-bundle.ts to find. Server code (loaders, *.server.ts) is removed from the client
 * build before its imports are resolved, so it may import what it likes.
 */
function noNodeBuiltinsInTheBrowser(): Plugin {
  const builtins = new Set(builtinModules);
  return {
    name: 'buildstory:no-node-builtins-in-the-browser',
    enforce: 'pre',
    resolveId(id, importer, options) {
      if (options?.ssr || !(id.startsWith('node:') || builtins.has(id.split('/')[0]))) return null;
      this.error(
        `${importer ?? 'the client build'} imports the Node built-in "${id}", which the browser does not have: move that code to a .server.ts module or a loader`,
      );
    },
  };
}

// The Remix app lives in web/ but shares the root package.json, so the config sits at the root.
// `.mjs` keeps the server build ESM under a CommonJS root package.
export default defineConfig(({ isSsrBuild }) => ({
  // The server build stays one file: a chunk of its own (as a lazy import makes) would be a `.js`
  // file, which Node reads as CommonJS under this package.
  build: isSsrBuild ? { rollupOptions: { output: { inlineDynamicImports: true } } } : {},
  resolve: {
    alias: {
      '~': fileURLToPath(new URL('./web/app', import.meta.url)),
      '@ungap/structured-clone': fileURLToPath(new URL('./web/app/utils/structured-clone.ts', import.meta.url)),
    },
  },
  plugins: [
    noNodeBuiltinsInTheBrowser(),
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
