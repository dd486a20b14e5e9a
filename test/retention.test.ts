// Retention on the real stack: the content of emails final for longer than
// EMAIL_CONTENT_RETENTION is purged, and what the guarantees need outlives it —
// a purged email still answers `status`, its idempotency key still returns it
// and still refuses another payload, and no workflow run, reconcile or retry
// sends it again. Unfinished emails are never purged.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backlogQuery } from '../src/backlog.ts';
import { ConfigError, loadConfig } from '../src/config.ts';
import type { EmailInput } from '../src/email/input.ts';
import { purgeExpired, type RetentionPolicy } from '../src/email/retention.ts';
import { contentPurgeDue, limitWindow } from '../src/email/transitions.ts';
import { createTestEnv, outcome, row, runMailer, type TestEnv } from './helpers.ts';
import { age, recordOnly, stored } from './retention-helpers.ts';

const FROM = 'Billing <billing@acme.example>';
const DAY = 86_400_000;

describe('content retention', () => {
  let env: TestEnv;
  beforeAll(async () => {
    env = await createTestEnv();
    await env.startWorker();
    await env.pool.query("INSERT INTO mailer.recipient_rules (kind, pattern) VALUES ('deny', '@blocked.example')");
  });
  afterAll(() => env?.close());

  const delivered = (to: string) => env.sink.messages.filter((m) => m.rcptTo.includes(to)).length;
  const invoice: EmailInput = {
    from: FROM,
    to: 'ann@example.com',
    cc: 'Carl <carl@example.com>',
    subject: 'Your invoice',
    text: 'Attached.',
    html: '<p>Attached.</p>',
    headers: { 'X-Tag': 'invoice' },
    attachments: [{ filename: 'invoice.pdf', content: Buffer.alloc(20_000, 7), contentType: 'application/pdf' }],
  };
  const ids: Record<string, string> = {};

  it('purges bodies, attachments and addresses of emails final for longer than the retention, and nothing else', async () => {
    const sent = await env.client.send(invoice, { idempotencyKey: 'invoice-42' });
    expect(await outcome(env, sent.workflowId)).toEqual({ status: 'sent' });
    env.sink.replyQueue.push({
      kind: 'reject',
      code: 550,
      message: '5.1.1 <gone@example.com>: Recipient address rejected',
    });
    const failed = await env.client.send({ from: FROM, to: 'gone@example.com', subject: 'Bounce', text: 'x' });
    expect((await outcome(env, failed.workflowId)).failure).toBeDefined();
    const blocked = await env.client.send({ from: FROM, to: 'x@blocked.example', subject: 'Blocked', text: 'x' });
    expect(await outcome(env, blocked.workflowId)).toEqual({ status: 'blocked' });
    const recent = await env.client.send({ from: FROM, to: 'recent@example.com', subject: 'Recent', text: 'x' });
    expect(await outcome(env, recent.workflowId)).toEqual({ status: 'sent' });
    // Unfinished, and as old: one whose workflow never started, one scheduled for tomorrow.
    const queued = await recordOnly(env, { from: FROM, to: 'queued@example.com', subject: 'Queued', text: 'x' });
    const scheduled = await env.client.send(
      { from: FROM, to: 'later@example.com', subject: 'Later', text: 'x' },
      { sendAt: new Date(Date.now() + DAY) },
    );
    Object.assign(ids, {
      sent: sent.id,
      failed: failed.id,
      blocked: blocked.id,
      recent: recent.id,
      queued,
      scheduled: scheduled.id,
    });
    expect((await row(env, failed.id)).smtp_response).toContain('gone@example.com');
    await age(env, [sent.id, failed.id, blocked.id, queued, scheduled.id], 31);
    await age(env, [recent.id], 29);
    const before = await row(env, sent.id);

    const dry = await runMailer(env, 'purge', '--dry-run');
    expect(dry.code).toBe(0);
    expect(dry.json).toMatchObject({
      dryRun: true,
      contentPurged: 3,
      recordsDeleted: 0,
      contentRetention: '30d',
      recordRetention: 'off',
    });
    expect((await stored(env, [sent.id])).get(sent.id)).toMatchObject({
      purged: false,
      subject: 'Your invoice',
      attachments: 1,
      recipients: 2,
    });

    const run = await runMailer(env, 'purge');
    expect(run.code).toBe(0);
    expect(run.json).toMatchObject({ dryRun: false, contentPurged: 3, done: true });

    const after = await row(env, sent.id);
    // What the guarantees need is intact…
    for (const key of [
      'status',
      'email_has_been_sent',
      'sent_at',
      'message_id',
      'idempotency_key',
      'payload_hash',
      'attempts',
      'mime_size',
      'created_on',
      'updated_at',
      'workflow_id',
    ]) {
      expect(after[key], key).toEqual(before[key]);
    }
    // …and the content is gone.
    expect(after).toMatchObject({
      sender: null,
      to_addrs: [],
      cc_addrs: [],
      bcc_addrs: [],
      reply_to: [],
      subject: null,
      text_body: null,
      html_body: null,
      headers: {},
    });
    expect(after.purged_at).toBeInstanceOf(Date);
    const s = await stored(env, Object.values(ids));
    for (const id of [sent.id, failed.id, blocked.id])
      expect(s.get(id)).toMatchObject({ purged: true, attachments: 0, recipients: 0 });
    // Addresses are cut out of what is kept: the SMTP reply, the last error, the block reason.
    const bounced = await row(env, failed.id);
    expect(bounced.smtp_response).toBe('550 5.1.1 <<address>>: Recipient address rejected'); // as deliver redacts history
    expect(bounced.last_error).not.toContain('@');
    expect((await row(env, blocked.id)).block_reason).toEqual({ rule: 'deny', entries: 1, purged: true });
    // Unfinished emails and the one final for 29 days keep everything.
    for (const id of [recent.id, queued, scheduled.id])
      expect(s.get(id)).toMatchObject({ purged: false, recipients: 1 });
    expect(s.get(recent.id)!.subject).toBe('Recent');

    // A second purge finds nothing more to do.
    expect((await runMailer(env, 'purge')).json).toMatchObject({ contentPurged: 0 });
  });

  it('a purged email still answers status, keeps its idempotency key, and is never sent again', async () => {
    const status = await runMailer(env, 'status', ids.sent!);
    expect(status.code).toBe(0);
    expect(status.json).toMatchObject({
      id: ids.sent,
      status: 'sent',
      messageId: `<${ids.sent}@acme.example>`,
      attempts: 1,
    });
    expect(status.json.sentAt).toMatch(/^\d{4}-/);
    expect(status.json.purgedAt).toMatch(/^\d{4}-/);
    expect((await runMailer(env, 'status', ids.blocked!)).json).toMatchObject({ status: 'blocked' });

    // The same key and payload: the same email, not sent again. Another payload: refused.
    const again = await env.client.send(invoice, { idempotencyKey: 'invoice-42' });
    expect(again).toMatchObject({ id: ids.sent, created: false });
    await expect(
      env.client.send({ ...invoice, subject: 'Another invoice' }, { idempotencyKey: 'invoice-42' }),
    ).rejects.toMatchObject({ code: 'IDEMPOTENCY_CONFLICT' });

    // A fresh run of the workflow (as after Temporal's own retention let the id be reused) finds it final.
    for (const [id, status] of [
      [ids.sent, 'sent'],
      [ids.failed, 'failed'],
      [ids.blocked, 'blocked'],
    ] as const) {
      const rerun = await env.client.temporal.workflow.execute('sendEmail', {
        taskQueue: env.config.temporal.taskQueue,
        workflowId: `rerun-${id}`,
        args: [{ emailId: id }],
      });
      expect(rerun).toEqual({ status });
    }
    // Reconcile restarts only the unfinished record that never had a workflow.
    const reconcile = await runMailer(env, 'reconcile', '--older-than', '0s');
    expect(reconcile.json.restarted).toEqual([ids.queued]);
    expect(await outcome(env, `email-${ids.queued}`)).toEqual({ status: 'sent' });
    // A failed email whose content is gone cannot be retried.
    const retry = await runMailer(env, 'retry', ids.failed!);
    expect(retry.code).toBe(1);
    expect(retry.json.error).toMatchObject({ code: 'PURGED', field: 'id' });
    expect((await row(env, ids.failed!)).status).toBe('failed');

    expect(delivered('ann@example.com')).toBe(1);
    expect(delivered('gone@example.com')).toBe(0);
    expect(delivered('x@blocked.example')).toBe(0);
  });

  it('deletes whole records past EMAIL_RECORD_RETENTION, after which the key is free again', async () => {
    const old = await env.client.send(
      { from: FROM, to: 'old@example.com', subject: 'Old', text: 'x' },
      { idempotencyKey: 'old-key' },
    );
    expect(await outcome(env, old.workflowId)).toEqual({ status: 'sent' });
    const kept = await env.client.send({ from: FROM, to: 'kept@example.com', subject: 'Kept', text: 'x' });
    expect(await outcome(env, kept.workflowId)).toEqual({ status: 'sent' });
    await age(env, [old.id], 401);
    await age(env, [kept.id], 399);
    const policy: RetentionPolicy = {
      contentAfterMs: 30 * DAY,
      recordAfterMs: 400 * DAY,
      batchSize: 2,
      configWindowMinutes: 0,
    };
    expect(await purgeExpired(env.db, policy, { dryRun: true })).toMatchObject({ recordsDeleted: 1 });
    const result = await purgeExpired(env.db, policy);
    expect(result).toMatchObject({ recordsDeleted: 1, done: true });
    expect(await row(env, old.id)).toBeUndefined();
    expect((await stored(env, [kept.id])).get(kept.id)).toMatchObject({ purged: true });
    expect((await runMailer(env, 'status', old.id)).json.error.code).toBe('NOT_FOUND');
    // What the second horizon gives up: the key now makes a new email.
    const reused = await env.client.send(
      { from: FROM, to: 'old@example.com', subject: 'Old', text: 'x' },
      { idempotencyKey: 'old-key' },
    );
    expect(reused.created).toBe(true);
    expect(reused.id).not.toBe(old.id);
  });

  it('reads the backlog and finds due emails through their indexes, not by scanning the history', async () => {
    const client = await env.pool.connect();
    try {
      await client.query('SET enable_seqscan = off');
      const plan = async (sql: string, values: unknown[] = []) =>
        (await client.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${sql}`, values)).rows
          .map((r) => r['QUERY PLAN'])
          .join('\n');
      const backlog = await plan(backlogQuery(env.db));
      expect(backlog).toContain('emails_unsent_due');
      expect(backlog).not.toMatch(/Seq Scan on emails/);
      const t = env.db.t;
      const due = await plan(
        `WITH w AS (${limitWindow(t, '$3')}) SELECT e.id FROM ${t.emails} e, w WHERE ${contentPurgeDue(t, 'e')} ORDER BY e.updated_at LIMIT $2`,
        [86400, 500, 60],
      );
      expect(due).toContain('emails_purge_due');
      expect(due).not.toMatch(/Seq Scan on emails/);
    } finally {
      client.release();
    }
  });
});

describe('retention settings', () => {
  const base = { DATABASE_URL: 'postgres://u:p@127.0.0.1:5432/app' };
  it('defaults to 30 days of content, records kept, an hourly purge in batches of 500', () => {
    expect(loadConfig(base).retention).toEqual({
      contentAfterMs: 30 * DAY,
      recordAfterMs: undefined,
      intervalMs: 3600_000,
      batchSize: 500,
    });
    expect(
      loadConfig({ ...base, EMAIL_CONTENT_RETENTION: 'off', MAILER_PURGE_INTERVAL: 'off' }).retention,
    ).toMatchObject({ contentAfterMs: undefined, intervalMs: undefined });
    expect(
      loadConfig({ ...base, EMAIL_CONTENT_RETENTION: '45d', EMAIL_RECORD_RETENTION: '400d' }).retention,
    ).toMatchObject({ contentAfterMs: 45 * DAY, recordAfterMs: 400 * DAY });
  });

  it('names the variable and the reason for a bad value', () => {
    const bad = (env: Record<string, string>) => {
      try {
        loadConfig({ ...base, ...env });
      } catch (err) {
        return err instanceof ConfigError ? err.message : `not a ConfigError: ${String(err)}`;
      }
      return 'accepted';
    };
    expect(bad({ EMAIL_CONTENT_RETENTION: 'a month' })).toBe(
      'EMAIL_CONTENT_RETENTION: "a month" is not a duration like 500ms, 2s, 10m, 1h or 30d',
    );
    expect(bad({ EMAIL_CONTENT_RETENTION: '0d' })).toMatch(
      /^EMAIL_CONTENT_RETENTION: "0d" must be between 1h and 87600h/,
    );
    expect(bad({ EMAIL_CONTENT_RETENTION: '30d', EMAIL_RECORD_RETENTION: '7d' })).toBe(
      'EMAIL_RECORD_RETENTION: must be at least EMAIL_CONTENT_RETENTION (records outlive their content)',
    );
    expect(bad({ MAILER_PURGE_BATCH_SIZE: '0' })).toMatch(/^MAILER_PURGE_BATCH_SIZE: "0" must be between 1 and 10000/);
    expect(bad({ MAILER_PURGE_BATCH_SIZE: '50000' })).toMatch(
      /^MAILER_PURGE_BATCH_SIZE: "50000" must be between 1 and 10000/,
    );
    expect(bad({ MAILER_BACKLOG_INTERVAL: '0s' })).toMatch(/^MAILER_BACKLOG_INTERVAL: "0s" must be between 1s and 1h/);
  });
});
