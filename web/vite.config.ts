import { defineConfig } from 'vite';

// Everything is bundled into dist/ and served by the cuntu server at `/`, same origin as the API.
export default defineConfig({
  base: './',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    chunkSizeWarningLimit: 2000,
    assetsInlineLimit: 0,
    rollupOptions: {
      output: {
        // The MapLibre worker is an ES module; give it a .js name so any static
        // file server sends it with a JavaScript MIME type.
        assetFileNames: (asset) => {
          const name = asset.names?.[0] ?? '';
          return name.endsWith('.mjs') ? 'assets/[name]-[hash].js' : 'assets/[name]-[hash][extname]';
        },
      },
    },
  },
  server: {
    // `npm run dev` proxies the API to a running cuntu server.
    proxy: {
      '/api': process.env.CUNTU_URL ?? 'http://127.0.0.1:8080',
      '/tiles': process.env.CUNTU_URL ?? 'http://127.0.0.1:8080',
    },
  },
});
