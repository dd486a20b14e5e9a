// The relay under faults: the worker that picked a committed email dies before
// starting it, Postgres restarts under the LISTEN connections, and three
// workers share a stream of commits. This file owns its Temporal server and
// Postgres (it kills Postgres) and runs workers as separate processes, started
// as production starts them.
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Mailer } from '../src/index.ts';
import { loadConfig } from '../src/config.ts';
import type { ManagedChild } from '../dev/stack/child.ts';
import { type Stack, stackEnv, startStack } from '../dev/stack/index.ts';
import { SmtpSink } from '../dev/stack/smtp-sink.ts';
import { waitFor } from '../dev/stack/wait.ts';
import { spawnWorker } from '../dev/stack/worker-process.ts';

const FROM = 'outbox@acme.example';
const TASK_QUEUE = 'outbox-faults';

describe('the relay under faults', { timeout: 180_000 }, () => {
  let stack: Stack;
  let sink: SmtpSink;
  let dataDir: string;
  let mailer: Mailer;
  let env: Record<string, string>;
  const workers: ManagedChild[] = [];

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'mailer-outbox-faults-'));
    await chmod(dataDir, 0o755);
    const bare = { ...process.env };
    for (const name of ['TEMPORAL_ADDRESS', 'DATABASE_URL', 'SMTP_URL']) delete bare[name];
    stack = await startStack({ dataDir, ephemeral: true, env: bare, log: () => {} });
    sink = await SmtpSink.start({ dir: path.join(dataDir, 'sink') });
    env = {
      ...stackEnv(stack.info),
      SMTP_URL: sink.url,
      TEMPORAL_TASK_QUEUE: TASK_QUEUE,
      DELIVER_RETRY_INITIAL_INTERVAL: '200ms',
      DELIVER_RETRY_MAX_INTERVAL: '1s',
      DELIVER_MAX_ATTEMPTS: '0',
      DELIVER_HEARTBEAT_TIMEOUT: '3s',
      WORKER_SHUTDOWN_GRACE: '5s',
      // Nothing but the relay starts these emails: no reconcile Schedule.
      RECONCILE_INTERVAL: 'off',
    };
    mailer = await Mailer.connect({ config: loadConfig(env) });
  }, 120_000);

  afterEach(async () => {
    await Promise.all(workers.splice(0).map((w) => w.stop(5000)));
  });

  afterAll(async () => {
    await mailer?.close();
    await sink?.close();
    await stack?.stop();
    await stack?.postgres?.destroy();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  async function worker(sweep: string) {
    const w = await spawnWorker({ ...env, MAILER_RELAY_SWEEP_INTERVAL: sweep }, `worker-${workers.length + 1}`);
    workers.push(w);
    return w;
  }

  async function transaction<T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await mailer.pool.connect();
    try {
      await client.query('BEGIN');
      const value = await fn(client);
      await client.query('COMMIT');
      return value;
    } catch (err) {
      await client.query('ROLLBACK');
      throw err;
    } finally {
      client.release();
    }
  }

  const sqlSend = (client: pg.PoolClient, to: string) =>
    client
      .query<{ id: string }>('SELECT mailer.send_email($1::jsonb) AS id', [
        { from: FROM, to, subject: `for ${to}`, text: 'x' },
      ])
      .then((r) => r.rows[0]!.id);
  const copies = (id: string) => sink.messages.filter((m) => m.raw.includes(`<${id}@acme.example>`)).length;
  /** Relay connections of this database (`mailer-relay <pid>` for passes, `… listen` for LISTEN), by worker pid. */
  const relays = async (where = 'true') =>
    (
      await mailer.pool.query<{ pid: number; state: string }>(
        `SELECT substring(application_name from 'mailer-relay ([0-9]+)')::int AS pid, state FROM pg_stat_activity
      WHERE datname = current_database() AND application_name LIKE 'mailer-relay %' AND ${where}`,
      )
    ).rows;
  const listening = async () => (await relays("application_name LIKE '% listen'")).length;

  async function expectDeliveredOnce(ids: string[], timeoutMs = 60_000) {
    await waitFor(
      `${ids.length} email(s) sent`,
      async () => {
        const { rows } = await mailer.pool.query<{ n: number }>(
          'SELECT count(*)::int AS n FROM mailer.emails WHERE id = ANY($1) AND email_has_been_sent',
          [ids],
        );
        return rows[0]!.n === ids.length;
      },
      { timeoutMs, intervalMs: 250 },
    );
    for (const id of ids) expect(copies(id), `copies of ${id}`).toBe(1);
    // One run per email: every start after the first joined it.
    const runs = new Map<string, number>();
    await waitFor('every run in visibility', async () => {
      runs.clear();
      const query = `TaskQueue = '${TASK_QUEUE}' AND WorkflowId IN (${ids.map((id) => `'email-${id}'`).join(', ')})`;
      for await (const wf of mailer.temporal.workflow.list({ query }))
        runs.set(wf.workflowId, (runs.get(wf.workflowId) ?? 0) + 1);
      return runs.size === ids.length;
    });
    expect([...runs.values()].every((n) => n === 1)).toBe(true);
    expect(
      (await mailer.pool.query('SELECT email_id FROM mailer.outbox WHERE email_id = ANY($1)', [ids])).rowCount,
    ).toBe(0);
  }

  it("the worker that picked a committed email is SIGKILLed before starting it: the other worker's sweep starts it", async () => {
    const [a, b] = [await worker('1s'), await worker('1s')];
    // Whichever relay picks the email waits inside its pass, outbox row locked
    // and workflow not started: validating it writes its recipients, and their
    // table is locked until the victim is dead.
    const blocker = await mailer.pool.connect();
    let id: string;
    try {
      await blocker.query('BEGIN');
      await blocker.query('LOCK TABLE mailer.email_recipients IN EXCLUSIVE MODE');
      id = await transaction((client) => sqlSend(client, 'killed-relay@example.com'));
      const holder = await waitFor(
        'one relay holding the email in its pass',
        async () => {
          const busy = await relays("state = 'idle in transaction'");
          return busy.length === 1 ? busy[0]!.pid : undefined;
        },
        { timeoutMs: 15_000 },
      );
      const victim = [a, b].find((w) => w.process.pid === holder);
      expect(victim, 'the holder is one of our workers').toBeDefined();
      await victim!.kill();
      // Its relay connection is gone, and its lock with it; nobody will notify again.
      await waitFor("the dead relay's connection gone", async () => (await relays()).every((r) => r.pid !== holder));
      expect(copies(id)).toBe(0);
      expect((await mailer.pool.query('SELECT 1 FROM mailer.outbox WHERE email_id = $1', [id])).rowCount).toBe(1);
    } finally {
      await blocker.query('ROLLBACK');
      blocker.release();
    }
    await expectDeliveredOnce([id]);
  });

  it('Postgres restarted: every relay LISTENs again and a commit is started at once, long before any sweep', async () => {
    // No sweep within the test (and no reconcile Schedule): only a notification can start the email.
    await worker('1h');
    await worker('1h');
    await waitFor('two relays listening', async () => (await listening()) === 2);
    await stack.postgres!.kill();
    await stack.postgres!.launch();
    await waitFor('two relays listening again', async () => (await listening()) === 2, { timeoutMs: 30_000 });
    const started = Date.now();
    const id = await transaction((client) =>
      mailer
        .send({ from: FROM, to: 'after-restart@example.com', subject: 'after restart', text: 'x' }, { db: client })
        .then((r) => r.id),
    );
    await expectDeliveredOnce([id], 30_000);
    expect(Date.now() - started).toBeLessThan(30_000);
  });

  it('three workers share a stream of commits: each email started once and delivered once', async () => {
    await Promise.all([worker('2s'), worker('2s'), worker('2s')]);
    await waitFor('three relays listening', async () => (await listening()) === 3);
    const batches = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        transaction(async (client) => {
          const viaNode = await mailer.sendMany(
            [0, 1].map((j) => ({
              email: { from: FROM, to: `three-${i}-${j}@example.com`, subject: `three ${i}.${j}`, text: 'x' },
            })),
            { db: client },
          );
          return [...viaNode.map((r) => r.id), await sqlSend(client, `three-${i}-sql@example.com`)];
        }),
      ),
    );
    await expectDeliveredOnce(batches.flat(), 90_000);
  });
});
