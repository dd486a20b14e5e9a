// Per-file isolation on the shared stack: a database cloned from the migrated
// template, an in-process SMTP sink with scripted replies, a unique task queue,
// and a worker built from the one bundle. Everything is closed after the file.
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { simpleParser, type ParsedMail } from 'mailparser';
import pg from 'pg';
import { inject } from 'vitest';
import { Mailer } from '../src/index.ts';
import { type Config, loadConfig } from '../src/config.ts';
import { createPool } from '../src/db/pool.ts';
import { type Db, dbFor } from '../src/db/schema.ts';
import { SmtpSink } from '../dev/stack/smtp-sink.ts';
import { waitFor } from '../dev/stack/wait.ts';
import { spawnWorker } from '../dev/stack/worker-process.ts';
import { type RunningWorker, startWorker } from '../src/worker.ts';

export { waitFor };

export interface TestEnv {
  config: Config;
  pool: pg.Pool;
  /** The pool with the schema's table names, as the service's own modules take it. */
  db: Db;
  sink: SmtpSink;
  client: Mailer;
  /**
   * A worker for this file's task queue: in-process on the dev server; on the
   * production server (`npm run test:production`) a separate process started
   * as the image starts it, with this file's environment.
   */
  /** In-process (the dev server's suites) it has the relay to look at; in production mode a process, without. */
  startWorker(overrides?: Partial<Config>): Promise<{ shutdown(): Promise<void>; relay?: RunningWorker['relay'] }>;
  close(): Promise<void>;
}

export function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

/** Fast retries so failure paths finish in seconds; the real schedule is tested on the time-skipping server. */
export const FAST_RETRIES = {
  DELIVER_RETRY_INITIAL_INTERVAL: '200ms',
  DELIVER_RETRY_MAX_INTERVAL: '1s',
  DELIVER_MAX_ATTEMPTS: '6',
  DELIVER_TIMEOUT: '10s',
  DELIVER_HEARTBEAT_TIMEOUT: '3s',
  SMTP_SOCKET_TIMEOUT: '5s',
  WORKER_SHUTDOWN_GRACE: '5s',
  // Each file's worker would otherwise leave Schedules firing into its dead task queue.
  RECONCILE_INTERVAL: 'off',
  MAILER_PURGE_INTERVAL: 'off',
};

export interface TestEnvOptions {
  /** An empty database instead of a clone of the migrated template. */
  emptyDatabase?: boolean;
  /** Runs against the new database (as its owner) before the client connects. */
  prepare?: (databaseUrl: string) => Promise<void>;
}

export async function createTestEnv(
  extraEnv: Record<string, string> = {},
  options: TestEnvOptions = {},
): Promise<TestEnv> {
  const stack = inject('stack');
  const database = `test_${randomUUID().replace(/-/g, '').slice(0, 16)}`;
  const admin = new pg.Client({ connectionString: stack.databaseUrl });
  await admin.connect();
  await admin.query(
    `CREATE DATABASE ${database}${options.emptyDatabase ? '' : ` TEMPLATE ${inject('templateDatabase')}`}`,
  );
  await admin.end();
  await options.prepare?.(withDatabase(stack.databaseUrl, database));

  const sinkDir = await mkdtemp(path.join(os.tmpdir(), 'mailer-sink-'));
  const sink = await SmtpSink.start({ dir: sinkDir });
  const variables: Record<string, string> = {
    TEMPORAL_ADDRESS: stack.temporalAddress,
    TEMPORAL_NAMESPACE: stack.temporalNamespace,
    TEMPORAL_TASK_QUEUE: `test-${database}`,
    ...(stack.temporalUiUrl ? { TEMPORAL_UI_URL: stack.temporalUiUrl } : {}),
    DATABASE_URL: withDatabase(stack.databaseUrl, database),
    SMTP_URL: sink.url,
    ...FAST_RETRIES,
    ...extraEnv,
  };
  const config = loadConfig(variables);
  const pool = createPool(config.databaseUrl);
  const client = await Mailer.connect({ config, pool });
  const workers: { shutdown(): Promise<void> }[] = [];
  let logDir: Promise<string> | undefined; // one folder for the file's worker logs, made on first use

  return {
    config,
    pool,
    db: dbFor(pool, config.database.schema),
    sink,
    client,
    async startWorker(overrides = {}) {
      let worker: { shutdown(): Promise<void>; relay?: RunningWorker['relay'] };
      if (stack.temporalKind === 'production') {
        if (Object.keys(overrides).length)
          throw new Error('startWorker: overrides are in-process only; pass variables to createTestEnv instead');
        logDir ??= mkdtemp(path.join(os.tmpdir(), 'mailer-worker-'));
        const child = await spawnWorker(variables, `worker-${workers.length + 1}`, { logDir: await logDir });
        worker = { shutdown: () => child.stop() };
      } else {
        worker = await startWorker({
          config: { ...config, ...overrides },
          workflowBundle: { codePath: inject('workflowBundlePath') },
        });
      }
      workers.push(worker);
      return worker;
    },
    async close() {
      await Promise.allSettled(workers.map((w) => w.shutdown()));
      await client.close();
      await pool.end();
      await sink.close();
      await rm(sinkDir, { recursive: true, force: true });
      if (logDir) await rm(await logDir, { recursive: true, force: true });
      const cleanup = new pg.Client({ connectionString: stack.databaseUrl });
      await cleanup.connect();
      await cleanup.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
      await cleanup.end();
    },
  };
}

/** Runs the email's workflow to its end and returns its result (or the failure). */
export async function outcome(env: TestEnv, workflowId: string): Promise<{ status?: string; failure?: Error }> {
  try {
    return await env.client.temporal.workflow.getHandle(workflowId).result();
  } catch (err) {
    return { failure: err as Error };
  }
}

export async function row(env: TestEnv, id: string) {
  const { rows } = await env.pool.query('SELECT * FROM mailer.emails WHERE id = $1', [id]);
  return rows[0];
}

/** Waits until the sink holds `count` messages, then parses them. */
export async function receivedMessages(sink: SmtpSink, count: number, timeoutMs = 30_000): Promise<ParsedMail[]> {
  await waitFor(`${count} message(s) at the SMTP sink`, () => sink.messages.length >= count, { timeoutMs });
  return Promise.all(sink.messages.map((m) => simpleParser(m.raw)));
}

const execFileAsync = promisify(execFile);
const mailerBin = path.resolve(import.meta.dirname, '../bin/mailer.js');

/** Runs the real `mailer` command (a child process) against this file's database and task queue, with --json. */
export async function runMailer(
  env: TestEnv,
  ...args: string[]
): Promise<{ code: number; json: Record<string, any>; stderr: string }> {
  const childEnv = {
    ...process.env,
    DATABASE_URL: env.config.databaseUrl,
    TEMPORAL_ADDRESS: env.config.temporal.address,
    TEMPORAL_NAMESPACE: env.config.temporal.namespace,
    TEMPORAL_TASK_QUEUE: env.config.temporal.taskQueue,
    TEMPORAL_UI_URL: env.config.temporal.uiUrl,
  };
  try {
    const { stdout, stderr } = await execFileAsync(process.execPath, [mailerBin, ...args, '--json'], {
      env: childEnv,
      timeout: 60_000,
    });
    return { code: 0, json: JSON.parse(stdout), stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, json: JSON.parse(e.stdout || '{}'), stderr: e.stderr };
  }
}
