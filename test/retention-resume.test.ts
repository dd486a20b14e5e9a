// The purge where it meets the rest of the service: the worker's Schedule
// runs it on its own, a per-recipient limit still counts what it needs after
// a purge, and a purge whose worker is killed halfway leaves no email
// half-purged and finishes on the next run.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ManagedChild } from '../dev/stack/child.ts';
import { spawnWorker } from '../dev/stack/worker-process.ts';
import { recordSent } from '../src/email/transitions.ts';
import { purgeExpired, retentionPolicy } from '../src/email/retention.ts';
import { purgeScheduleId } from '../src/schedule.ts';
import type { PurgeRunResult } from '../src/workflows/purge.ts';
import { createTestEnv, FAST_RETRIES, outcome, row, type TestEnv, waitFor } from './helpers.ts';
import { age, recordOnly, stored, wholeOrPurged } from './retention-helpers.ts';

const FROM = 'app@acme.example';

describe('the per-recipient limit after a purge', () => {
  let env: TestEnv;
  beforeAll(async () => {
    env = await createTestEnv();
  });
  afterAll(() => env?.close());

  it('keeps the recipients an email not yet judged will count, and purges them once it is', async () => {
    await env.pool.query(
      "INSERT INTO mailer.recipient_limits (scope, max_emails, window_minutes) VALUES ('per_recipient', 1, 60)",
    );
    // Two emails sent 31 days ago, to x and to y; a minute after the first, a second email to x was
    // submitted and is still waiting (its worker was down): the limit must judge it by the first.
    const first = await env.client.send({ from: FROM, to: 'x@example.com', subject: 'First', text: 'x' });
    const other = await env.client.send({ from: FROM, to: 'y@example.com', subject: 'Other', text: 'x' });
    const waiting = await env.client.send({ from: FROM, to: 'x@example.com', subject: 'Second', text: 'x' });
    for (const id of [first.id, other.id]) await recordSent(env.db, id, '250 ok', 100);
    await age(env, [first.id, other.id, waiting.id], 31);

    const policy = retentionPolicy(env.config);
    expect(await purgeExpired(env.db, policy)).toMatchObject({ contentPurged: 1 });
    const s = await stored(env, [first.id, other.id]);
    expect(s.get(other.id)).toMatchObject({ purged: true, recipients: 0 });
    expect(s.get(first.id)).toMatchObject({ purged: false, recipients: 1 });

    // The worker comes back: the waiting email is judged as it was submitted, counting the first.
    await env.startWorker();
    expect(await outcome(env, waiting.workflowId)).toEqual({ status: 'blocked' });
    expect((await row(env, waiting.id)).block_reason).toMatchObject({
      rule: 'per_recipient_limit',
      over: [{ address: 'x@example.com', earlier: 1 }],
    });
    expect(env.sink.messages.filter((m) => m.rcptTo.includes('x@example.com'))).toHaveLength(0);
    // Judged and final: nothing needs the first email's recipient any more.
    expect(await purgeExpired(env.db, policy)).toMatchObject({ contentPurged: 1 });
    expect((await stored(env, [first.id])).get(first.id)).toMatchObject({ purged: true, recipients: 0 });
  });
});

describe('a purge interrupted halfway', () => {
  let env: TestEnv;
  const workers: ManagedChild[] = [];
  let holder: pg.Client | undefined;
  beforeAll(async () => {
    env = await createTestEnv();
  });
  afterAll(async () => {
    await holder?.end().catch(() => {});
    for (const w of workers) await w.stop();
    await env?.close();
  });

  const spawn = async (name: string) => {
    const worker = await spawnWorker(
      {
        ...FAST_RETRIES,
        DATABASE_URL: env.config.databaseUrl,
        SMTP_URL: env.sink.url,
        TEMPORAL_ADDRESS: env.config.temporal.address,
        TEMPORAL_TASK_QUEUE: env.config.temporal.taskQueue,
        MAILER_PURGE_BATCH_SIZE: '5',
      },
      name,
    );
    workers.push(worker);
    return worker;
  };
  const startPurge = (workflowId: string) =>
    env.client.temporal.workflow.start('purgeWorkflow', { taskQueue: env.config.temporal.taskQueue, workflowId });

  it('commits whole batches only, and the next run purges the rest exactly once', async () => {
    // 60 sent emails with an attachment and two recipients each, final for 40 days (oldest first in this order).
    const ids: string[] = [];
    for (let i = 0; i < 60; i++) {
      ids.push(
        await recordOnly(env, {
          from: FROM,
          to: [`a${i}@example.com`, `b${i}@example.com`],
          subject: `Report ${i}`,
          text: 'x',
          attachments: [{ filename: 'report.csv', content: `row,${i}\n` }],
        }),
      );
    }
    for (const id of ids) await recordSent(env.db, id, '250 ok', 100);
    await age(env, ids, 40);

    // Another session holds the 31st email's row: six batches of five commit, the seventh waits on it.
    holder = new pg.Client({ connectionString: env.config.databaseUrl });
    await holder.connect();
    await holder.query('BEGIN');
    await holder.query('SELECT 1 FROM mailer.emails WHERE id = $1 FOR UPDATE', [ids[30]]);

    const first = await spawn('worker-1');
    await startPurge('purge-first');
    const purgedCount = async () =>
      (await env.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM mailer.emails WHERE purged_at IS NOT NULL'))
        .rows[0]!.n;
    await waitFor('six batches purged and the seventh waiting on the held row', async () => {
      const waiting = await env.pool.query<{ pid: number }>(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%purged_at%'",
      );
      return (await purgedCount()) === 30 && waiting.rows.length === 1;
    });

    // The worker dies mid-purge. Its session is ended as Postgres ends a dead client's
    // (client_connection_check_interval): the waiting batch rolls back.
    await first.kill();
    await env.pool.query(
      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%purged_at%'",
    );
    await holder.query('ROLLBACK');
    await holder.end();
    holder = undefined;

    let s = await stored(env, ids);
    expect(await purgedCount()).toBe(30);
    expect(ids.filter((id) => !wholeOrPurged(s.get(id)!, { attachments: 1, recipients: 2 }))).toEqual([]);
    expect(ids.slice(0, 30).every((id) => s.get(id)!.purged)).toBe(true);

    // The next run (the Schedule's next firing) picks up where the dead one stopped. The dead
    // run's activity would be retried after its heartbeat timeout too; it is ended here so the
    // two do not share the remaining work and the count below is exact.
    await env.client.temporal.workflow.getHandle('purge-first').terminate('its worker died');
    await spawn('worker-2');
    const second = await startPurge('purge-second');
    const result: PurgeRunResult = await second.result();
    expect(result).toMatchObject({ contentPurged: 30, batches: 7, done: true });
    s = await stored(env, ids);
    expect(ids.filter((id) => !s.get(id)!.purged)).toEqual([]);
    expect(ids.filter((id) => !wholeOrPurged(s.get(id)!, { attachments: 1, recipients: 2 }))).toEqual([]);
    // Everything the sent guarantee needs is still there.
    const { rows } = await env.pool.query(
      'SELECT count(*)::int AS n FROM mailer.emails WHERE email_has_been_sent AND status = $1 AND sent_at IS NOT NULL',
      ['sent'],
    );
    expect(rows[0].n).toBe(60);
  });
});

describe('purge Schedule', () => {
  let env: TestEnv;
  beforeAll(async () => {
    env = await createTestEnv({ MAILER_PURGE_INTERVAL: '2s' });
  });
  afterAll(async () => {
    await env.client.temporal.schedule
      .getHandle(purgeScheduleId(env.config.temporal.taskQueue))
      .delete()
      .catch(() => {});
    await env?.close();
  });

  it('is created by the worker and purges an email past its retention on its own', async () => {
    const id = await recordOnly(env, { from: FROM, to: 'old@example.com', subject: 'Old', text: 'x' });
    await recordSent(env.db, id, '250 ok', 100);
    await age(env, [id], 31);
    await env.startWorker();
    await waitFor('the Schedule to purge the email', async () => (await stored(env, [id])).get(id)!.purged, {
      timeoutMs: 45_000,
    });
    const description = await env.client.temporal.schedule
      .getHandle(purgeScheduleId(env.config.temporal.taskQueue))
      .describe();
    expect(description.action).toMatchObject({ workflowType: 'purgeWorkflow' });
    expect(await row(env, id)).toMatchObject({ status: 'sent', email_has_been_sent: true, subject: null });
  });
});
