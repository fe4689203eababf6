import { defineConfig } from 'vitest/config';

// Library mode: one ES module bundle with the audited @noble libraries inlined.
export default defineConfig({
  build: {
    lib: { entry: 'src/index.ts', formats: ['es'], fileName: 'heliograph-client' },
    sourcemap: true,
    target: 'es2022',
  },
  test: { include: ['test/**/*.test.ts'] },
});
