import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    // Describes (and at the end stops) the one private PostgreSQL server a run starts on demand.
    globalSetup: ['test/fixtures/postgres-global.ts'],
    // FUZZ_SEED, when set, seeds every fast-check property of the run.
    setupFiles: ['test/fixtures/seed.ts'],
  },
});
