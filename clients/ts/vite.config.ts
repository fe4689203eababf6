import { defineConfig } from 'vitest/config';

// Library mode: ES modules with the audited @noble libraries inlined (so a browser can
// import the file as is); `node` adds the file store and keeps `node:*` external.
export default defineConfig({
  build: {
    lib: { entry: { 'heliograph-client': 'src/index.ts', node: 'src/node.ts' }, formats: ['es'] },
    rollupOptions: { external: [/^node:/] },
    sourcemap: true,
    target: 'es2022',
  },
  test: { include: ['test/**/*.test.ts'] },
});
