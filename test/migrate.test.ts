// The service as a guest in the app's database: its own schema, migrations
// that move a database at the old layout (tables in `public`) with its data,
// an app's own `schema_migrations` left alone, concurrent starts, a database
// newer than the code refused, and a runtime role with row rights only.
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { checkMigrated, loadMigrations, migrate } from '../src/db/migrate.ts';
import { createPool } from '../src/db/pool.ts';
import { reconcile } from '../src/email/lost.ts';
import { EMAIL_STATUSES } from '../src/email/status.ts';
import { Mailer, MigrationError } from '../src/index.ts';
import { startWorker } from '../src/worker.ts';
import { createTestEnv, outcome, receivedMessages, row, waitFor, type TestEnv } from './helpers.ts';

const legacyDir = path.resolve(import.meta.dirname, 'fixtures/legacy-migrations');

async function withClient<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** A database exactly as the 0.1 release left it: tables in public, ledger public.schema_migrations 1-3. */
async function buildLegacyLayout(url: string, emails: { sent: string; queued: string }): Promise<void> {
  await withClient(url, async (c) => {
    await c.query(
      'CREATE TABLE schema_migrations (id integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())',
    );
    for (const [id, file] of ['0001_smoke_checks.sql', '0002_emails.sql', '0003_uncertain_delivery.sql'].entries()) {
      await c.query(await readFile(path.join(legacyDir, file), 'utf8'));
      await c.query('INSERT INTO schema_migrations (id, name) VALUES ($1, $2)', [id + 1, file.slice(5, -4)]);
    }
    const insert = `INSERT INTO emails (id, payload_hash, sender, to_addrs, subject, text_body, status, email_has_been_sent, sent_at, message_id, workflow_id, attempts)
                    VALUES ($1, 'h', '{"address":"app@acme.example"}', $2, $3, 'Hello', $4, $5, $6, $7, $8, $9)`;
    await c.query(insert, [
      emails.sent,
      '[{"address":"old-sent@example.com"}]',
      'Sent in 0.1',
      'sent',
      true,
      new Date(),
      `<${emails.sent}@acme.example>`,
      `email-${emails.sent}`,
      1,
    ]);
    await c.query(insert, [
      emails.queued,
      '[{"address":"old-queued@example.com"}]',
      'Queued in 0.1',
      'queued',
      false,
      null,
      `<${emails.queued}@acme.example>`,
      `email-${emails.queued}`,
      0,
    ]);
    await c.query(
      "INSERT INTO email_recipients (email_id, address, created_on) SELECT id, to_addrs->0->>'address', created_on FROM emails",
    );
  });
}

describe('the service in the app database', () => {
  const envs: TestEnv[] = [];
  afterAll(async () => {
    for (const env of envs) await env.close();
  });

  it('declares in the migrations exactly the statuses the code knows', async () => {
    // The newest migration that replaces the status CHECK (by name), else the baseline's.
    const migrations = await loadMigrations();
    const named = migrations
      .map((m) => /emails_status_check\s+CHECK \(status IN \(([^)]*)\)/.exec(m.sql)?.[1])
      .filter(Boolean)
      .at(-1);
    const check = named ?? /status IN \(([^)]*)\)/.exec(migrations[0]!.sql)![1]!;
    expect(
      check
        .split(',')
        .map((s) => s.trim().replace(/'/g, ''))
        .sort(),
    ).toEqual([...EMAIL_STATUSES].sort());
  });

  it('moves a database at the old layout into its schema with its data: the sent email stays sent, the queued one is delivered once', async () => {
    const ids = { sent: randomUUID(), queued: randomUUID() };
    const env = await createTestEnv({}, { emptyDatabase: true, prepare: (url) => buildLegacyLayout(url, ids) });
    envs.push(env);
    const tables = await env.pool.query<{ schema: string; name: string }>(
      "SELECT table_schema AS schema, table_name AS name FROM information_schema.tables WHERE table_schema IN ('public', 'mailer') ORDER BY 1, 2",
    );
    expect(tables.rows).toEqual(
      [
        'email_attachments',
        'email_events',
        'email_recipients',
        'emails',
        'migrations',
        'outbox',
        'recipient_limits',
        'recipient_rules',
        'submissions',
        'suppressions',
      ].map((name) => ({ schema: 'mailer', name })),
    );
    // The old layout counts as the baseline; the later migrations are applied on top of it.
    expect((await env.pool.query('SELECT id, name FROM mailer.migrations ORDER BY id')).rows).toEqual(
      (await loadMigrations()).map((m) => ({ id: m.id, name: m.name })),
    );
    expect(await row(env, ids.sent)).toMatchObject({ status: 'sent', email_has_been_sent: true });

    await env.startWorker();
    // The queued email never had a workflow here: the reconciler starts it; the sent one is final and left alone.
    const result = await reconcile(
      { db: env.db, temporal: env.client.temporal, config: env.config },
      { olderThanMs: 0 },
    );
    expect(result.restarted).toEqual([ids.queued]);
    await receivedMessages(env.sink, 1);
    await waitFor('the queued email sent', async () => (await row(env, ids.queued)).email_has_been_sent);
    // Even a run of the sent email's own workflow does not send it again.
    const rerun = await env.client.temporal.workflow.start('sendEmail', {
      taskQueue: env.config.temporal.taskQueue,
      workflowId: `email-${ids.sent}`,
      args: [{ emailId: ids.sent }],
    });
    expect(await outcome(env, rerun.workflowId)).toEqual({ status: 'sent' });
    expect(env.sink.messages.map((m) => m.rcptTo)).toEqual([['old-queued@example.com']]);
  });

  it("leaves an app's own public.schema_migrations alone", async () => {
    const env = await createTestEnv(
      {},
      {
        emptyDatabase: true,
        prepare: (url) =>
          withClient(url, async (c) => {
            await c.query('CREATE TABLE schema_migrations (version character varying PRIMARY KEY)');
            await c.query("INSERT INTO schema_migrations VALUES ('20240101000000')");
          }),
      },
    );
    envs.push(env);
    expect((await env.pool.query('SELECT version FROM public.schema_migrations')).rows).toEqual([
      { version: '20240101000000' },
    ]);
    expect((await env.pool.query('SELECT count(*)::int AS n FROM mailer.migrations')).rows[0].n).toBe(
      (await loadMigrations()).length,
    );
  });

  it('applies each migration once when several processes start at once, and refuses a database newer than the code', async () => {
    const env = await createTestEnv({}, { emptyDatabase: true, prepare: async () => {} });
    envs.push(env);
    await env.pool.query('DROP SCHEMA mailer CASCADE');
    const pools = Array.from({ length: 4 }, () => createPool(env.config.databaseUrl, 2));
    try {
      const applied = await Promise.all(pools.map((p) => migrate(p, 'mailer')));
      expect(applied.flat().sort()).toEqual((await loadMigrations()).map((m) => m.id));
    } finally {
      await Promise.all(pools.map((p) => p.end()));
    }
    await env.pool.query("INSERT INTO mailer.migrations (id, name) VALUES (999, 'from_the_future')");
    await expect(migrate(env.pool, 'mailer')).rejects.toThrow(/has migration 999 but this code knows only/);
    await expect(checkMigrated(env.pool, 'mailer')).rejects.toBeInstanceOf(MigrationError);
  });

  it('with migrate off, an unmigrated database is named as such and nothing is created', async () => {
    const env = await createTestEnv({}, { emptyDatabase: true, prepare: async () => {} });
    envs.push(env);
    await env.pool.query('DROP SCHEMA mailer CASCADE');
    const error = await Mailer.connect({ config: env.config, pool: env.pool, migrate: false }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MigrationError);
    expect((error as Error).message).toMatch(/schema "mailer" is not set up .* run `mailer migrate`/);
    expect((await env.pool.query("SELECT to_regnamespace('mailer') AS s")).rows[0].s).toBeNull();
  });

  it('sends, delivers and reports with a role that has row rights only', async () => {
    const env = await createTestEnv();
    envs.push(env);
    const role = `mailer_rw_${randomUUID().replace(/-/g, '').slice(0, 8)}`;
    const database = new URL(env.config.databaseUrl).pathname.slice(1);
    await withClient(inject('stack').databaseUrl, async (c) => {
      await c.query(`CREATE ROLE ${role} LOGIN PASSWORD 'rw-secret'`);
      await c.query(`GRANT CONNECT ON DATABASE ${database} TO ${role}`);
    });
    await env.pool.query(`GRANT USAGE ON SCHEMA mailer TO ${role}`);
    await env.pool.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA mailer TO ${role}`);
    const url = new URL(env.config.databaseUrl);
    url.username = role;
    url.password = 'rw-secret';
    const restricted = { ...env.config, databaseUrl: url.toString(), database: { schema: 'mailer', migrate: false } };
    // It really cannot change the schema.
    await expect(withClient(url.toString(), (c) => c.query('CREATE TABLE mailer.nope (id int)'))).rejects.toThrow(
      /permission denied/,
    );

    const worker = await startWorker({
      config: { ...env.config, ...restricted },
      workflowBundle: { codePath: inject('workflowBundlePath') },
    });
    const mailer = await Mailer.connect({ config: restricted });
    try {
      const sent = await mailer.send({
        from: 'app@acme.example',
        to: 'least@example.com',
        subject: 'Row rights',
        text: 'only',
      });
      expect(await outcome(env, sent.workflowId)).toEqual({ status: 'sent' });
      expect((await mailer.status(sent.id)).status).toBe('sent');
      // With migrations on but nothing pending, connecting is read-only too.
      const again = await Mailer.connect({ config: { ...restricted, database: { schema: 'mailer', migrate: true } } });
      await again.close();
    } finally {
      await mailer.close();
      await worker.shutdown();
    }
  });
});
