// One real stack per test run (Temporal dev server + Postgres; each test file
// starts its own SMTP sink so it can script replies), one workflow bundle, and
// a migrated template database that each test file clones.
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { migrate } from '../src/db/migrate.ts';
import { createPool } from '../src/db/pool.ts';
import { projectRoot, type StackInfo, startStack, type TemporalKind } from '../dev/stack/index.ts';
import { build, bundlePath, isStale } from '../scripts/build.mjs';

declare module 'vitest' {
  export interface ProvidedContext {
    stack: StackInfo;
    workflowBundlePath: string;
    templateDatabase: string;
  }
}

export const TEMPLATE_DB = 'mailer_template';

export default function setup(project: TestProject) {
  return setUpTestStack(project, 'dev');
}

/** `production` (vitest.production.config.ts): the real temporal-server on Postgres instead of the dev server. */
export async function setUpTestStack(project: TestProject, temporal: TemporalKind) {
  const dataDir = path.join(projectRoot, '.data', `test-${process.pid}`);
  await rm(dataDir, { recursive: true, force: true });
  await mkdir(dataDir, { recursive: true });
  // Tests always get their own servers, never the developer's running ones.
  const env = { ...process.env };
  for (const name of ['TEMPORAL_ADDRESS', 'DATABASE_URL', 'SMTP_URL']) delete env[name];
  const stack = await startStack({ dataDir, ephemeral: true, env, temporal });
  try {
    // The tests run the very bundle the package ships (dist/workflow-bundle.js),
    // rebuilt here only when src/ changed since `npm run build`.
    await Promise.all([
      isStale() ? build() : Promise.resolve(),
      (async () => {
        const admin = new pg.Client({ connectionString: stack.info.databaseUrl });
        await admin.connect();
        await admin.query(`CREATE DATABASE ${TEMPLATE_DB}`);
        await admin.end();
        const pool = createPool(stack.info.databaseUrl.replace(/\/[^/]+$/, `/${TEMPLATE_DB}`));
        await migrate(pool, 'mailer');
        await pool.end();
      })(),
    ]);
    project.provide('stack', stack.info);
    project.provide('workflowBundlePath', bundlePath);
    project.provide('templateDatabase', TEMPLATE_DB);
  } catch (err) {
    await stack.stop();
    throw err;
  }
  return async () => {
    await stack.stop();
    // Its data may live outside dataDir (see usableDataDir in dev/stack/postgres.ts).
    await stack.postgres?.destroy();
    await rm(dataDir, { recursive: true, force: true });
  };
}
