import { defineConfig } from 'vitest/config';

// Tests import the packages through their built `dist/` (npm test builds first), so the vCPU worker
// scripts that guest memory starts are plain JavaScript in tests exactly as in production.
export default defineConfig({
  test: {
    include: ['packages/*/test/**/*.test.ts', 'test/**/*.test.ts'],
    // Integration tests start real agents with worker threads. On a shared 2-core host whose speed varies by
    // five times or more within minutes (see docs/PERFORMANCE.md), a migration that takes 5 s on a quiet
    // machine can take a minute: the budgets allow for that, the assertions never depend on speed.
    testTimeout: 180_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // Two cores: migrations spawn agents and worker threads of their own; run files one after another.
    fileParallelism: false,
  },
});
