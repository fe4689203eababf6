import { resolve } from 'node:path';
import { defineConfig } from 'vite';

// Three static pages; the client library is compiled from its sources in ../ts.
export default defineConfig({
  base: './',
  resolve: { alias: { '@heliograph/client': resolve(__dirname, '../ts/src/index.ts') } },
  build: {
    target: 'es2022',
    rollupOptions: {
      input: {
        index: resolve(__dirname, 'index.html'),
        dapp: resolve(__dirname, 'dapp.html'),
        wallet: resolve(__dirname, 'wallet.html'),
      },
    },
  },
});
