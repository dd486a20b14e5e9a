// What an operator's Prometheus and log pipeline see: the worker (a real
// process) serves the SDK's and the service's metrics on MAILER_METRICS_ADDRESS
// (the backlog gauges and every counter from the first scrape), and logs one
// JSON object per line with ids and outcomes, never addresses or content.
import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pickPort } from '../dev/stack/ports.ts';
import type { ManagedChild } from '../dev/stack/child.ts';
import { spawnWorker } from '../dev/stack/worker-process.ts';
import { insertEmail } from '../src/email/store.ts';
import { payloadHash, validateSendInput } from '../src/email/validation.ts';
import { createTestEnv, FAST_RETRIES, outcome, type TestEnv, waitFor } from './helpers.ts';

/** A record as send() writes it, with no workflow (nothing will move it), `minutesAgo` old. */
async function waitingRecord(env: TestEnv, minutesAgo: number, sendAt?: Date): Promise<string> {
  const email = validateSendInput({
    from: 'app@acme.example',
    to: 'waiting@example.com',
    subject: 'Waiting',
    text: 'x',
  });
  const { id } = await insertEmail(env.db, email, { payloadHash: payloadHash(email), ...(sendAt ? { sendAt } : {}) });
  await env.pool.query('UPDATE mailer.emails SET created_on = created_on - make_interval(mins => $2) WHERE id = $1', [
    id,
    minutesAgo,
  ]);
  return id;
}

/** The value of one series on /metrics (the first whose labels include `labels`). */
function sample(body: string, name: string, labels = ''): number | undefined {
  for (const line of body.split('\n')) {
    const m = /^([a-z_]+)(\{[^}]*\})? (\S+)$/.exec(line);
    if (m && m[1] === name && (m[2] ?? '').includes(labels)) return Number(m[3]);
  }
  return undefined;
}

describe('metrics and logs', () => {
  let env: TestEnv;
  let worker: ManagedChild;
  let metricsUrl: string;
  const backlog: Record<string, string> = {};
  beforeAll(async () => {
    env = await createTestEnv();
    // Waiting emails, before the worker starts: the first scrape must already count them.
    backlog.queuedOld = await waitingRecord(env, 10);
    backlog.queuedNew = await waitingRecord(env, 1);
    backlog.scheduledLater = await waitingRecord(env, 60, new Date(Date.now() + 3600_000));
    backlog.retrying = await waitingRecord(env, 2);
    backlog.held = await waitingRecord(env, 3);
    await env.pool.query(
      "UPDATE mailer.emails SET status = 'sending', attempts = 1, last_error = 'SmtpConnection: refused' WHERE id = $1",
      [backlog.retrying],
    );
    await env.pool.query(
      "UPDATE mailer.emails SET status = 'sending', attempts = 1, held_since = now() WHERE id = $1",
      [backlog.held],
    );
    const address = `127.0.0.1:${await pickPort(undefined)}`;
    metricsUrl = `http://${address}/metrics`;
    worker = await spawnWorker({
      ...FAST_RETRIES,
      DATABASE_URL: env.config.databaseUrl,
      SMTP_URL: env.sink.url,
      TEMPORAL_ADDRESS: env.config.temporal.address,
      TEMPORAL_TASK_QUEUE: env.config.temporal.taskQueue,
      MAILER_METRICS_ADDRESS: address,
      MAILER_LOG_LEVEL: 'INFO',
      MAILER_LOG_FORMAT: 'json',
      MAILER_BACKLOG_INTERVAL: '1s',
    });
  });
  afterAll(async () => {
    await worker?.stop();
    await env?.close();
  });

  it('serves the backlog gauges and every counter from the first scrape, in seconds and by Prometheus names', async () => {
    const body = await (await fetch(metricsUrl)).text();
    expect(sample(body, 'mailer_emails_waiting', 'state="queued"')).toBe(2);
    expect(sample(body, 'mailer_emails_waiting', 'state="scheduled"')).toBe(1);
    expect(sample(body, 'mailer_emails_waiting', 'state="retrying"')).toBe(1);
    expect(sample(body, 'mailer_emails_waiting', 'state="held"')).toBe(1);
    expect(sample(body, 'mailer_emails_waiting', 'state="sending"')).toBe(0);
    // The oldest due one is the queued email of 10 minutes ago (the scheduled one is older, but not due).
    const age = sample(body, 'mailer_oldest_unsent_email_age_seconds')!;
    expect(age).toBeGreaterThanOrEqual(600);
    expect(age).toBeLessThan(3600);
    expect(Math.abs(Date.now() / 1000 - sample(body, 'mailer_backlog_sampled_timestamp_seconds')!)).toBeLessThan(120);
    // Counters exist before anything happened, at zero, for each value of their tag.
    expect(sample(body, 'mailer_emails_sent_total')).toBe(0);
    expect(sample(body, 'mailer_emails_failed_total')).toBe(0);
    for (const rule of ['deny', 'allow', 'per_recipient_limit'])
      expect(sample(body, 'mailer_emails_blocked_total', `rule="${rule}"`)).toBe(0);
    expect(sample(body, 'mailer_delivery_retries_total', 'error_class="SmtpConnection"')).toBe(0);
    expect(sample(body, 'mailer_emails_purged_total', 'what="content"')).toBe(0);
    // No millisecond histograms left: the SDK's durations are seconds too.
    expect(body).not.toMatch(/_milliseconds|_ms_bucket/);
    expect(body).toMatch(/^temporal_request_latency_seconds_bucket/m);

    // The gauges follow Postgres on the timer (MAILER_BACKLOG_INTERVAL=1s here).
    await env.pool.query("UPDATE mailer.emails SET status = 'cancelled' WHERE id = ANY($1)", [
      [backlog.queuedOld, backlog.held],
    ]);
    await waitFor('the gauges to see the cancelled emails', async () => {
      const now = await (await fetch(metricsUrl)).text();
      return (
        sample(now, 'mailer_emails_waiting', 'state="queued"') === 1 &&
        sample(now, 'mailer_emails_waiting', 'state="held"') === 0 &&
        sample(now, 'mailer_oldest_unsent_email_age_seconds')! < 600
      );
    });
    await env.pool.query("UPDATE mailer.emails SET status = 'cancelled' WHERE id = ANY($1)", [Object.values(backlog)]);
  });

  it('counts sent, retried, failed and blocked emails and serves them with the SDK metrics', async () => {
    await env.pool.query("INSERT INTO mailer.recipient_rules (kind, pattern) VALUES ('deny', '@blocked.example')");
    env.sink.replyQueue.push({ kind: 'reject', code: 421, message: 'busy' });
    const retriedThenSent = await env.client.send({
      from: 'app@acme.example',
      to: 'secret-person@example.com',
      subject: 'Secret subject line',
      text: 'secret body text',
    });
    expect(await outcome(env, retriedThenSent.workflowId)).toEqual({ status: 'sent' });
    env.sink.replyQueue.push({ kind: 'reject', code: 550, message: 'no' });
    const failed = await env.client.send({ from: 'app@acme.example', to: 'gone@example.com', subject: 's', text: 't' });
    await outcome(env, failed.workflowId);
    const blocked = await env.client.send({
      from: 'app@acme.example',
      to: 'x@blocked.example',
      subject: 's',
      text: 't',
    });
    expect(await outcome(env, blocked.workflowId)).toEqual({ status: 'blocked' });

    // Every line asserted is waited for, not two of them as a sign of the rest:
    // the worker records each at its own moment, the SDK's own ones included.
    const expected = [
      /mailer_emails_sent_total\S* 1\b/,
      /mailer_emails_blocked_total\S* 1\b/,
      /mailer_emails_failed_total\S* 1\b/,
      /mailer_delivery_retries_total\{[^}]*error_class="SmtpTemporary"[^}]*\} 1\b/,
      // Seconds, with buckets from tens of milliseconds to the two hours an outage's retries take.
      /^mailer_delivery_latency_seconds_bucket\{[^}]*le="0\.05"[^}]*\} \d/m,
      /^mailer_delivery_latency_seconds_bucket\{[^}]*le="7200"[^}]*\} 1\b/m,
      /temporal_workflow_completed/, // the SDK's own metrics, same endpoint
    ];
    const text = await waitFor('the counters on /metrics', async () => {
      const body = await (await fetch(metricsUrl)).text();
      const missing = expected.filter((re) => !re.test(body));
      if (missing.length) throw new Error(`not yet on /metrics: ${missing.join(', ')}`);
      return body;
    });
    for (const re of expected) expect(text).toMatch(re);

    // Logs: JSON lines with the email id and outcome; no address, subject or body.
    // The worker's output reaches its log file through a pipe and a file stream,
    // which may trail the email's outcome: wait for the lines asserted.
    const entries = await waitFor("the email's log lines in the worker log", async () => {
      const all = (await readFile(worker.logFile, 'utf8'))
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      const ofEmail = all.filter((e) => e.emailId === retriedThenSent.id);
      return ofEmail.some((e) => e.msg === 'email sent') &&
        ofEmail.some((e) => e.msg === 'email step' && e.status === 'retrying')
        ? all
        : undefined;
    });
    const sentLine = entries.find((e) => e.msg === 'email sent' && e.emailId === retriedThenSent.id);
    expect(sentLine).toMatchObject({ level: 'INFO', outcome: 'sent', workflowId: retriedThenSent.workflowId });
    expect(
      entries.some((e) => e.msg === 'email step' && e.emailId === retriedThenSent.id && e.status === 'retrying'),
    ).toBe(true);
    const logs = (await readFile(worker.logFile, 'utf8')).split('\n').filter((l) => l.startsWith('{'));
    const all = logs.join('\n');
    for (const secret of ['secret-person@example.com', 'Secret subject line', 'secret body text'])
      expect(all).not.toContain(secret);
  });
});
