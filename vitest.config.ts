import { defineConfig } from 'vitest/config';

// Tests import the packages through their built `dist/` (npm test builds first), so the vCPU worker
// scripts that guest memory starts are plain JavaScript in tests exactly as in production.
export default defineConfig({
  test: {
    include: ['packages/*/test/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 30_000,
    pool: 'forks',
    // Two cores: migrations spawn agents and worker threads of their own; run files one after another.
    fileParallelism: false,
  },
});
