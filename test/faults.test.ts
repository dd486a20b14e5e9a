// Nothing lost, nothing sent twice, under the faults that break a classic
// task queue: workers killed or stopped mid-send, the Temporal server and
// Postgres crashing and coming back, an SMTP server that is down, slow or
// flapping. This file owns its own Temporal server and Postgres (it kills
// them), and runs workers as separate processes.
import { mkdtemp, rm, chmod } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import protos from '@temporalio/proto';
import { Mailer } from '../src/index.ts';
import { type Config, loadConfig } from '../src/config.ts';
import { workflowIdFor } from '../src/email/store.ts';
import type { ManagedChild } from '../dev/stack/child.ts';
import { type Stack, stackEnv, startStack } from '../dev/stack/index.ts';
import { SmtpSink } from '../dev/stack/smtp-sink.ts';
import { waitFor } from '../dev/stack/wait.ts';
import { spawnWorker } from '../dev/stack/worker-process.ts';

const FROM = 'faults@acme.example';
const TimeoutType = protos.temporal.api.enums.v1.TimeoutType;
const EventType = protos.temporal.api.enums.v1.EventType;

describe('faults', { timeout: 180_000 }, () => {
  let stack: Stack;
  let sink: SmtpSink;
  let dataDir: string;
  let mailer: Mailer;
  let env: Record<string, string>;
  let config: Config;
  const workers: ManagedChild[] = [];

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'mailer-faults-'));
    await chmod(dataDir, 0o755);
    const bare = { ...process.env };
    for (const name of ['TEMPORAL_ADDRESS', 'DATABASE_URL', 'SMTP_URL']) delete bare[name];
    // The same kind of Temporal server as the run's (the real one under npm run test:production).
    stack = await startStack({
      dataDir,
      ephemeral: true,
      env: bare,
      log: () => {},
      temporal: inject('stack').temporalKind ?? 'dev',
    });
    sink = await SmtpSink.start({ dir: path.join(dataDir, 'sink') });
    env = {
      ...stackEnv(stack.info),
      SMTP_URL: sink.url,
      TEMPORAL_TASK_QUEUE: 'faults',
      DELIVER_RETRY_INITIAL_INTERVAL: '200ms',
      DELIVER_RETRY_MAX_INTERVAL: '1s',
      DELIVER_MAX_ATTEMPTS: '0',
      DELIVER_TIMEOUT: '20s',
      DELIVER_HEARTBEAT_TIMEOUT: '3s',
      SMTP_SOCKET_TIMEOUT: '15s',
      WORKER_SHUTDOWN_GRACE: '10s',
      RECONCILE_INTERVAL: 'off',
    };
    config = loadConfig(env);
    mailer = await Mailer.connect({ config });
  }, 120_000);

  afterEach(async () => {
    await Promise.all(workers.splice(0).map((w) => w.stop(5000)));
    sink.replyQueue.length = 0;
    sink.defaultReply = { kind: 'accept' };
    sink.afterStore = undefined;
    await sink.listen();
  });

  afterAll(async () => {
    await mailer?.close();
    await sink?.close();
    await stack?.stop();
    await stack?.postgres?.destroy();
    await rm(dataDir, { recursive: true, force: true });
  });

  async function worker(extra: Record<string, string> = {}) {
    const w = await spawnWorker({ ...env, ...extra }, `worker-${workers.length + 1}`, { logDir: dataDir });
    workers.push(w);
    return w;
  }

  async function submit(n: number, tag: string): Promise<string[]> {
    const ids = [];
    for (let i = 0; i < n; i++)
      ids.push(
        (await mailer.send({ from: FROM, to: `${tag}-${i}@example.com`, subject: `${tag} ${i}`, text: 'x' })).id,
      );
    return ids;
  }

  /** How many times the sink received each email (by its Message-ID). */
  function receivedCount(id: string): number {
    return sink.messages.filter((m) => m.raw.includes(`<${id}@acme.example>`)).length;
  }

  /** Every email final, none lost, each `sent` one received exactly once. */
  async function expectSettled(ids: string[], timeoutMs = 90_000) {
    await waitFor(
      'every email to reach a final status',
      async () => {
        const { rows } = await mailer.pool.query<{ n: number }>(
          "SELECT count(*)::int AS n FROM mailer.emails WHERE id = ANY($1) AND status IN ('sent', 'blocked', 'failed', 'cancelled')",
          [ids],
        );
        return rows[0]!.n === ids.length;
      },
      { timeoutMs, intervalMs: 250 },
    );
    const { rows } = await mailer.pool.query<{ id: string; status: string }>(
      'SELECT id, status FROM mailer.emails WHERE id = ANY($1)',
      [ids],
    );
    for (const row of rows) {
      expect(row.status, `email ${row.id}`).toBe('sent');
      expect(receivedCount(row.id), `copies of ${row.id}`).toBe(1);
    }
    return rows;
  }

  /** Holds three deliveries at the server, kills the worker that sends them, lets a new one finish them. */
  async function killMidSend(tag: string, extra: Record<string, string> = {}): Promise<string[]> {
    const first = await worker(extra);
    // Every delivery is held at the server, none answered, when the worker
    // dies: no message is in the uncertain window (stored, reply not yet
    // recorded), where a resend is by design. An email answered quickly while
    // another is held would be exactly that, and it would be sent twice.
    for (let i = 0; i < 3; i++) sink.replyQueue.push({ kind: 'accept', delayMs: 5000 });
    const ids = await submit(3, tag);
    await waitFor('all three deliveries in flight at the server', () => sink.pending === 3);
    await first.kill();
    await worker(extra);
    await expectSettled(ids);
    // The second worker took each claim over from a dead attempt, so it cannot
    // know whether the server kept the first copy: it says so on the record.
    const { rows } = await mailer.pool.query<{ possibly_delivered: boolean }>(
      'SELECT possibly_delivered FROM mailer.emails WHERE id = ANY($1)',
      [ids],
    );
    expect(rows.map((r) => r.possibly_delivered)).toEqual([true, true, true]);
    return ids;
  }

  const historyOf = async (id: string) =>
    (await mailer.temporal.workflow.getHandle(workflowIdFor(id)).fetchHistory()).events!;

  it('worker SIGKILLed while deliver is in flight (rate-limited: a regular activity): the attempt times out by heartbeat and another worker delivers', async () => {
    const ids = await killMidSend('sigkill', { EMAIL_RATE_LIMIT: '100/s' });
    // Temporal gave up on each dead attempt by its heartbeat timeout (3 s), not
    // the start-to-close one (20 s) - even an attempt killed before it ever
    // heartbeated: the server's heartbeat timer runs from the attempt's start.
    for (const id of ids) {
      const timeouts = (await historyOf(id)).flatMap(
        (e) => e.activityTaskTimedOutEventAttributes?.failure?.timeoutFailureInfo?.timeoutType ?? [],
      );
      expect(timeouts, `attempt timeouts of ${id}`).toEqual([TimeoutType.TIMEOUT_TYPE_HEARTBEAT]);
    }
  });

  it('worker SIGKILLed while its local first attempt is in flight: the workflow task times out and another worker delivers', async () => {
    const ids = await killMidSend('sigkill-local');
    // No rate limit: the first attempt ran as a local activity inside the dead
    // worker's workflow task. Temporal gave up on that task (its timeout), the
    // next worker ran the attempt again and took the expired claim over.
    for (const id of ids) {
      const events = await historyOf(id);
      expect(
        events.filter((e) => e.eventType === EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT).length,
        `workflow task timeouts of ${id}`,
      ).toBeGreaterThanOrEqual(1);
      expect(
        events.filter((e) => e.activityTaskScheduledEventAttributes),
        `regular attempts of ${id}`,
      ).toEqual([]);
    }
  });

  it('worker SIGTERM: in-flight deliveries finish within the grace period, nothing half-done', async () => {
    const first = await worker();
    for (let i = 0; i < 3; i++) sink.replyQueue.push({ kind: 'accept', delayMs: 2000 });
    const ids = await submit(3, 'sigterm');
    await waitFor('deliveries in flight at the server', () => sink.pending >= 1);
    const inFlight = (
      await mailer.pool.query<{ id: string }>(
        'SELECT id FROM mailer.emails WHERE id = ANY($1) AND delivery_claim IS NOT NULL',
        [ids],
      )
    ).rows.map((r) => r.id);
    expect(inFlight.length).toBeGreaterThanOrEqual(1);
    await first.stop(20_000);
    expect(first.process.exitCode).toBe(0);
    // What was in flight when the signal came finished and was recorded by the stopping worker.
    const { rows } = await mailer.pool.query<{
      id: string;
      status: string;
      attempts: number;
      delivery_claim: string | null;
    }>('SELECT id, status, attempts, delivery_claim FROM mailer.emails WHERE id = ANY($1)', [inFlight]);
    for (const row of rows) expect(row).toMatchObject({ status: 'sent', attempts: 1, delivery_claim: null });
    await worker();
    await expectSettled(ids);
  });

  it('Temporal server killed (SIGKILL) and restarted on the same data mid-run: all emails complete', async () => {
    await worker();
    for (let i = 0; i < 6; i++) sink.replyQueue.push({ kind: 'accept', delayMs: 300 });
    const ids = await submit(8, 'temporal-crash');
    await waitFor('some deliveries under way', () => sink.messages.length + sink.pending >= 1);
    await stack.temporal!.kill();
    await stack.temporal!.launch();
    await expectSettled(ids);
  });

  it('Postgres killed and restarted mid-run: activities fail, retry and complete', async () => {
    await worker();
    for (let i = 0; i < 6; i++) sink.replyQueue.push({ kind: 'accept', delayMs: 300 });
    const ids = await submit(8, 'postgres-crash');
    await waitFor('some deliveries under way', () => sink.pending >= 1);
    await stack.postgres!.kill();
    await stack.postgres!.launch();
    await expectSettled(ids);
  });

  it('SMTP down for longer than several retries, then back: delivered once each', async () => {
    await worker();
    await sink.close();
    const ids = await submit(3, 'smtp-down');
    await waitFor(
      'several failed attempts',
      async () => {
        const { rows } = await mailer.pool.query<{ n: number }>(
          'SELECT min(attempts)::int AS n FROM mailer.emails WHERE id = ANY($1)',
          [ids],
        );
        return rows[0]!.n >= 3;
      },
      { timeoutMs: 30_000 },
    );
    await sink.listen();
    await expectSettled(ids);
  });

  it('SMTP slow (replies after 8 s): delivered once each, no second attempt', async () => {
    await worker();
    for (let i = 0; i < 2; i++) sink.replyQueue.push({ kind: 'accept', delayMs: 8000 });
    const ids = await submit(2, 'smtp-slow');
    const rows = await expectSettled(ids);
    const attempts = await mailer.pool.query<{ attempts: number }>(
      'SELECT attempts FROM mailer.emails WHERE id = ANY($1)',
      [rows.map((r) => r.id)],
    );
    expect(attempts.rows.map((r) => r.attempts)).toEqual([1, 1]);
  });

  /** Kills `victim` after the server stored the first message but before it answers 250: the uncertain window. */
  function crashInTheWindow(victim: () => ManagedChild | undefined) {
    let done = false;
    sink.afterStore = async () => {
      if (done) return;
      done = true;
      await victim()?.kill();
    };
  }

  const mailerIn = (id: string) => sink.messages.filter((m) => m.raw.includes(`<${id}@acme.example>`));

  it('uncertain window, policy resend: sent again with the identical Message-ID, and recorded', async () => {
    const first = await worker();
    crashInTheWindow(() => first);
    const [id] = await submit(1, 'uncertain-resend');
    await waitFor('the crash in the window', () => !first.running);
    await worker();
    await waitFor('the email to be sent', async () => (await mailer.get(id!))?.status === 'sent', {
      timeoutMs: 60_000,
    });
    const { rows } = await mailer.pool.query(
      'SELECT possibly_delivered, uncertain_resends, attempts FROM mailer.emails WHERE id = $1',
      [id],
    );
    expect(rows[0]).toMatchObject({ possibly_delivered: true, uncertain_resends: 1 });
    // Two copies, one identity: a receiver can de-duplicate them.
    const copies = mailerIn(id!);
    expect(copies).toHaveLength(2);
    const messageIds = copies.map((m) => /^message-id:\s*(\S+)/im.exec(m.raw.toString())?.[1]);
    expect(messageIds).toEqual([`<${id}@acme.example>`, `<${id}@acme.example>`]);
  });

  it('uncertain window, policy hold: waits for an operator; --sent records it without a second copy, --resend sends it again', async () => {
    const hold = { UNCERTAIN_DELIVERY_POLICY: 'hold' };
    let current = await worker(hold);
    crashInTheWindow(() => current);
    const [delivered] = await submit(1, 'uncertain-hold-sent');
    await waitFor('the crash in the window', () => !current.running);
    current = await worker(hold);
    const held = await waitFor(
      'the email to be held',
      async () => {
        const view = await mailer.status(delivered!);
        return view.workflow?.state?.step === 'held' ? view : undefined;
      },
      { timeoutMs: 60_000 },
    );
    expect(held.workflow!.state).toMatchObject({ status: 'held', lastErrorClass: 'UncertainDelivery' });
    expect(
      (
        await mailer.pool.query(
          'SELECT possibly_delivered, held_since IS NOT NULL AS held FROM mailer.emails WHERE id = $1',
          [delivered],
        )
      ).rows[0],
    ).toEqual({ possibly_delivered: true, held: true });
    await mailer.resolve(delivered!, 'sent');
    await waitFor('the decision to be recorded', async () => (await mailer.get(delivered!))?.status === 'sent');
    expect(mailerIn(delivered!)).toHaveLength(1);
    expect((await mailer.get(delivered!))?.smtpResponse).toContain('marked as sent by an operator');

    crashInTheWindow(() => current);
    const [resent] = await submit(1, 'uncertain-hold-resend');
    await waitFor('the crash in the window', () => !current.running);
    current = await worker(hold);
    await waitFor('the email to be held', async () => (await mailer.status(resent!)).workflow?.state?.step === 'held', {
      timeoutMs: 60_000,
    });
    await expect(mailer.resolve(delivered!, 'resend')).rejects.toThrow(/not waiting for a decision/);
    await mailer.resolve(resent!, 'resend');
    await waitFor('the resend', async () => (await mailer.get(resent!))?.status === 'sent', { timeoutMs: 30_000 });
    expect(mailerIn(resent!)).toHaveLength(2);
  });

  it('SMTP flapping (down and up every 300 ms): delivered once each', async () => {
    await worker();
    let flapping = true;
    const flap = (async () => {
      for (let up = false; flapping; up = !up) {
        if (up) await sink.listen();
        else await sink.close();
        await new Promise((r) => setTimeout(r, 300));
      }
      await sink.listen();
    })();
    const ids = await submit(6, 'smtp-flap');
    // Flap until there have been retries, or until every email got through
    // anyway (a fast pipeline can land each one in an up phase).
    await waitFor(
      'a few attempts during the flapping',
      async () => {
        const { rows } = await mailer.pool.query<{ n: number; open: number }>(
          "SELECT sum(attempts)::int AS n, count(*) FILTER (WHERE status NOT IN ('sent', 'blocked', 'failed', 'cancelled'))::int AS open FROM mailer.emails WHERE id = ANY($1)",
          [ids],
        );
        return rows[0]!.n >= 8 || rows[0]!.open === 0;
      },
      { timeoutMs: 30_000 },
    );
    flapping = false;
    await flap;
    await expectSettled(ids);
  });
});
