// `npm run test:production`: the suites that matter in production, against the
// real multi-service temporal-server on PostgreSQL (persistence and SQL
// visibility) instead of the dev server, with every worker a separate process
// started as the image starts it. The first run builds the server from source
// into .tools/ (see dev/stack/go-binaries.ts), hence the long setup timeout.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/pipeline.test.ts', 'test/operations.test.ts', 'test/faults.test.ts', 'test/rate-limit.test.ts'],
    globalSetup: ['test/global-setup.production.ts'],
    setupFiles: ['test/setup-file.ts'],
    pool: 'forks',
    // The real server is heavier than the dev server, and faults.test.ts starts a second one.
    maxWorkers: 2,
    testTimeout: 90_000,
    hookTimeout: 180_000,
    teardownTimeout: 60_000,
  },
});
