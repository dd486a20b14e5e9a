// deliver's own guarantees, with the real activity over a real Postgres and a
// real SMTP sink (the activity context is Temporal's MockActivityEnvironment,
// so attempts can be run side by side on purpose).
import { noopMetricMeter } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDeliver } from '../src/activities/deliver.ts';
import { createMetrics } from '../src/activities/metrics.ts';
import { createSmtpTransport } from '../src/smtp.ts';
import { createTestEnv, row, type TestEnv } from './helpers.ts';

describe('deliver', () => {
  let env: TestEnv;
  let deliver: ReturnType<typeof createDeliver>;
  let transport: ReturnType<typeof createSmtpTransport>;
  beforeAll(async () => {
    env = await createTestEnv();
    transport = createSmtpTransport(env.sink.url, env.config.smtp);
    deliver = createDeliver({ db: env.db, transport, config: env.config, metrics: createMetrics(noopMetricMeter) });
  });
  afterAll(async () => {
    transport?.close();
    await env?.close();
  });

  // Records only (no workflow runs on this file's task queue: no worker polls it).
  const submit = async (to: string) =>
    (await env.client.send({ from: 'app@acme.example', to, subject: 'Hi', text: 'Hello' })).id;
  const count = (to: string) => env.sink.messages.filter((m) => m.rcptTo.includes(to)).length;

  it('returns at once when run again after a successful send', async () => {
    const id = await submit('again@example.com');
    expect(await new MockActivityEnvironment().run(deliver, id)).toEqual({
      outcome: 'sent',
      alreadySent: false,
      afterUncertain: false,
    });
    expect(await new MockActivityEnvironment().run(deliver, id)).toEqual({
      outcome: 'sent',
      alreadySent: true,
      afterUncertain: false,
    });
    expect(count('again@example.com')).toBe(1);
    expect(await row(env, id)).toMatchObject({ status: 'sent', attempts: 1, email_has_been_sent: true });
  });

  it('lets only one of two overlapping attempts send', async () => {
    const id = await submit('overlap@example.com');
    // The first attempt is slow at the server, like one that outlives its timeout.
    env.sink.replyQueue.push({ kind: 'accept', delayMs: 1500 });
    const first = new MockActivityEnvironment().run(deliver, id);
    const second = new MockActivityEnvironment().run(deliver, id).catch((e: unknown) => e);
    const [a, b] = await Promise.all([first, second]);
    expect(a).toEqual({ outcome: 'sent', alreadySent: false, afterUncertain: false });
    expect((b as Error & { type?: string }).type).toBe('DeliveryInProgress');
    // Temporal's retry of the refused attempt then finds the flag set.
    expect(await new MockActivityEnvironment().run(deliver, id)).toEqual({
      outcome: 'sent',
      alreadySent: true,
      afterUncertain: false,
    });
    expect(count('overlap@example.com')).toBe(1);
    expect((await row(env, id)).attempts).toBe(1);
  });

  it('does not send a cancelled email', async () => {
    const id = await submit('cancelled@example.com');
    await env.pool.query("UPDATE mailer.emails SET status = 'cancelled' WHERE id = $1", [id]);
    expect(await new MockActivityEnvironment().run(deliver, id)).toEqual({ outcome: 'final', status: 'cancelled' });
    expect(count('cancelled@example.com')).toBe(0);
  });

  it('gives its claim back when it cannot read the attachments, so the retry is not taken for a crash mid-send', async () => {
    const to = 'attachment-read@example.com';
    const { id } = await env.client.send({
      from: 'app@acme.example',
      to,
      subject: 'Invoice',
      text: 'Attached.',
      attachments: [{ filename: 'invoice.txt', content: Buffer.from('total: 9.99'), contentType: 'text/plain' }],
    });
    // Postgres fails that one read (a failing fake over the real pool); the claim before it is real.
    const failing = new Proxy(env.pool, {
      get(target, prop, receiver) {
        if (prop !== 'query') return Reflect.get(target, prop, receiver);
        return (text: string, values?: unknown[]) =>
          /email_attachments WHERE email_id/.test(text)
            ? Promise.reject(new Error('connection terminated'))
            : target.query(text, values);
      },
    });
    const flaky = createDeliver({
      db: { pool: failing, t: env.db.t },
      transport,
      config: env.config,
      metrics: createMetrics(noopMetricMeter),
    });
    await expect(new MockActivityEnvironment().run(flaky, id)).rejects.toThrow('connection terminated');
    expect(await row(env, id)).toMatchObject({
      delivery_claim: null,
      attempts: 1,
      possibly_delivered: false,
      last_error: 'reading attachments: connection terminated',
    });
    expect(count(to)).toBe(0);
    // The next attempt claims it at once, sends it with the attachment, and does not call it uncertain.
    expect(await new MockActivityEnvironment().run(deliver, id)).toEqual({
      outcome: 'sent',
      alreadySent: false,
      afterUncertain: false,
    });
    expect(await row(env, id)).toMatchObject({ status: 'sent', attempts: 2, possibly_delivered: false });
    expect(env.sink.messages.filter((m) => m.rcptTo.includes(to)).map((m) => m.raw.toString())).toEqual([
      expect.stringContaining('invoice.txt'),
    ]);
  });

  it('keeps addresses out of the failure that goes into history, and in the record', async () => {
    const id = await submit('nobody@example.com');
    env.sink.replyQueue.push({
      kind: 'reject',
      code: 550,
      message: '5.1.1 <nobody@example.com>: Recipient address rejected',
    });
    const error = (await new MockActivityEnvironment().run(deliver, id).catch((e: unknown) => e)) as Error & {
      type?: string;
      nonRetryable?: boolean;
    };
    expect(error.type).toBe('SmtpRejected');
    expect(error.nonRetryable).toBe(true);
    expect(error.message).not.toContain('nobody@example.com');
    expect((await row(env, id)).smtp_response).toContain('nobody@example.com');
  });
});
