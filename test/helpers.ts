// Per-file isolation on the shared stack: a database cloned from the migrated
// template, an in-process SMTP sink with scripted replies, a unique task queue,
// and a worker built from the one bundle. Everything is closed after the file.
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { simpleParser, type ParsedMail } from 'mailparser';
import pg from 'pg';
import { inject } from 'vitest';
import { connectTemporal, type MailerClient } from '../src/client.ts';
import { type Config, loadConfig } from '../src/config.ts';
import { createPool } from '../src/db/pool.ts';
import { SmtpSink } from '../src/stack/smtp-sink.ts';
import { waitFor } from '../src/stack/wait.ts';
import { startWorker, type RunningWorker } from '../src/worker.ts';

export { waitFor };

export interface TestEnv {
  config: Config;
  pool: pg.Pool;
  sink: SmtpSink;
  client: MailerClient;
  startWorker(overrides?: Partial<Config>): Promise<RunningWorker>;
  close(): Promise<void>;
}

function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

export async function createTestEnv(): Promise<TestEnv> {
  const stack = inject('stack');
  const database = `test_${randomUUID().replace(/-/g, '').slice(0, 16)}`;
  const admin = new pg.Client({ connectionString: stack.databaseUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${database} TEMPLATE ${inject('templateDatabase')}`);
  await admin.end();

  const sinkDir = await mkdtemp(path.join(os.tmpdir(), 'mailer-sink-'));
  const sink = await SmtpSink.start({ dir: sinkDir });
  const config = loadConfig({
    TEMPORAL_ADDRESS: stack.temporalAddress,
    TEMPORAL_NAMESPACE: stack.temporalNamespace,
    TEMPORAL_TASK_QUEUE: `test-${database}`,
    DATABASE_URL: withDatabase(stack.databaseUrl, database),
    SMTP_URL: sink.url,
  });
  const pool = createPool(config.databaseUrl);
  const client = await connectTemporal(config);
  const workers: RunningWorker[] = [];

  return {
    config,
    pool,
    sink,
    client,
    async startWorker(overrides = {}) {
      const worker = await startWorker({
        config: { ...config, ...overrides },
        workflowBundle: { codePath: inject('workflowBundlePath') },
      });
      workers.push(worker);
      return worker;
    },
    async close() {
      await Promise.allSettled(workers.map((w) => w.shutdown()));
      await client.close();
      await pool.end();
      await sink.close();
      await rm(sinkDir, { recursive: true, force: true });
      const cleanup = new pg.Client({ connectionString: stack.databaseUrl });
      await cleanup.connect();
      await cleanup.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
      await cleanup.end();
    },
  };
}

/** Waits until the sink holds `count` messages, then parses them. */
export async function receivedMessages(sink: SmtpSink, count: number, timeoutMs = 30_000): Promise<ParsedMail[]> {
  await waitFor(`${count} message(s) at the SMTP sink`, () => sink.messages.length >= count, { timeoutMs });
  return Promise.all(sink.messages.map((m) => simpleParser(m.raw)));
}
