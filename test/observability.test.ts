// What an operator's Prometheus and log pipeline see: the worker (a real
// process) serves the SDK's and the service's metrics on MAILER_METRICS_ADDRESS, and
// logs one JSON object per line with ids and outcomes, never addresses or content.
import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pickPort } from '../dev/stack/ports.ts';
import type { ManagedChild } from '../dev/stack/child.ts';
import { spawnWorker } from '../dev/stack/worker-process.ts';
import { createTestEnv, FAST_RETRIES, outcome, type TestEnv, waitFor } from './helpers.ts';

describe('metrics and logs', () => {
  let env: TestEnv;
  let worker: ManagedChild;
  let metricsUrl: string;
  beforeAll(async () => {
    env = await createTestEnv();
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
    });
  });
  afterAll(async () => {
    await worker?.stop();
    await env?.close();
  });

  it('counts sent, retried, failed and blocked emails and serves them with the SDK metrics', async () => {
    await env.pool.query("INSERT INTO mailer.recipient_rules (kind, pattern) VALUES ('deny', '@blocked.example')");
    env.sink.replyQueue.push({ kind: 'reject', code: 421, message: 'busy' });
    const retriedThenSent = await env.client.send({ from: 'app@acme.example', to: 'secret-person@example.com', subject: 'Secret subject line', text: 'secret body text' });
    expect(await outcome(env, retriedThenSent.workflowId)).toEqual({ status: 'sent' });
    env.sink.replyQueue.push({ kind: 'reject', code: 550, message: 'no' });
    const failed = await env.client.send({ from: 'app@acme.example', to: 'gone@example.com', subject: 's', text: 't' });
    await outcome(env, failed.workflowId);
    const blocked = await env.client.send({ from: 'app@acme.example', to: 'x@blocked.example', subject: 's', text: 't' });
    expect(await outcome(env, blocked.workflowId)).toEqual({ status: 'blocked' });

    // Every line asserted is waited for, not two of them as a sign of the rest:
    // the worker records each at its own moment, the SDK's own ones included.
    const expected = [
      /mailer_emails_sent_total\S* 1\b/,
      /mailer_emails_blocked_total\S* 1\b/,
      /mailer_emails_failed_total\S* 1\b/,
      /mailer_delivery_retries_total\{[^}]*error_class="SmtpTemporary"[^}]*\} 1\b/,
      /mailer_delivery_latency_ms_bucket/,
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
    const entries = await waitFor('the email\'s log lines in the worker log', async () => {
      const all = (await readFile(worker.logFile, 'utf8')).split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
      const ofEmail = all.filter((e) => e.emailId === retriedThenSent.id);
      return ofEmail.some((e) => e.msg === 'email sent') && ofEmail.some((e) => e.msg === 'email step' && e.status === 'retrying') ? all : undefined;
    });
    const sentLine = entries.find((e) => e.msg === 'email sent' && e.emailId === retriedThenSent.id);
    expect(sentLine).toMatchObject({ level: 'INFO', outcome: 'sent', workflowId: retriedThenSent.workflowId });
    expect(entries.some((e) => e.msg === 'email step' && e.emailId === retriedThenSent.id && e.status === 'retrying')).toBe(true);
    const logs = (await readFile(worker.logFile, 'utf8')).split('\n').filter((l) => l.startsWith('{'));
    const all = logs.join('\n');
    for (const secret of ['secret-person@example.com', 'Secret subject line', 'secret body text']) expect(all).not.toContain(secret);
  });
});
