// Events and webhooks on the real stack: every state change is one event row
// (same transaction), one NOTIFY, and one signed POST (duplicates only with
// the same event id); a receiver that is down gets everything afterwards, in
// order per email; a permanent 4xx is recorded, shown by `mailer` and not retried.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyWebhook } from '../src/index.ts';
import { createTestEnv, outcome, runMailer, waitFor, type TestEnv } from './helpers.ts';
import { WebhookReceiver } from './webhook-receiver.ts';

const SECRET = 'events-test-secret-0123456789';
let env: TestEnv;
let receiver: WebhookReceiver;
let listener: pg.Client;
const notifications: { id: string; emailId: string; type: string }[] = [];

const mail = (to: string) => ({ from: 'app@example.com', to, subject: 'Your receipt', text: 'Thank you.' });

interface DbEvent {
  id: string;
  email_id: string;
  type: string;
  webhook: string;
  webhook_attempts: number;
  webhook_last_error: string | null;
}

async function dbEvents(emailIds: string[]): Promise<DbEvent[]> {
  const { rows } = await env.pool.query<DbEvent>(
    'SELECT * FROM mailer.email_events WHERE email_id = ANY($1::uuid[]) ORDER BY id',
    [emailIds],
  );
  return rows;
}

/** Every event of these emails, once each has its final one and all were delivered to the receiver. */
async function allDelivered(emailIds: string[]): Promise<DbEvent[] | undefined> {
  const rows = await dbEvents(emailIds);
  const final = new Set(rows.filter((r) => r.type !== 'retrying').map((r) => r.email_id));
  return emailIds.every((id) => final.has(id)) && rows.every((r) => r.webhook === 'delivered') ? rows : undefined;
}

beforeAll(async () => {
  receiver = await WebhookReceiver.start();
  env = await createTestEnv({
    WEBHOOK_URL: receiver.url(),
    WEBHOOK_SECRET: SECRET,
    WEBHOOK_RETRY_INITIAL_INTERVAL: '200ms',
    WEBHOOK_RETRY_MAX_INTERVAL: '1s',
    EMAIL_DENY: '@denied.example',
  });
  // A policy refusal (5.7.1): `failed`, and not a reason to suppress the address.
  env.sink.rejectRecipient = (a) =>
    a === 'someone@policy.example' ? { code: 550, message: '5.7.1 Message refused by policy' } : undefined;
  listener = new pg.Client({ connectionString: env.config.databaseUrl });
  await listener.connect();
  listener.on('notification', (n) =>
    notifications.push(JSON.parse(n.payload ?? '{}') as (typeof notifications)[number]),
  );
  await listener.query(`LISTEN ${env.client.eventChannel}`);
  await env.startWorker();
});

afterAll(async () => {
  await listener?.end();
  await env?.close();
  await receiver?.down();
});

describe('events and webhooks', () => {
  it('sends exactly one signed event per state change (sent, blocked, failed, cancelled), notified on the channel', async () => {
    const sent = await env.client.send(mail('ann@example.com'));
    const blocked = await env.client.send(mail('bob@denied.example'));
    const failed = await env.client.send(mail('someone@policy.example'));
    const later = await env.client.send(mail('cy@example.com'), { sendAt: new Date(Date.now() + 3_600_000) });
    expect((await env.client.cancel(later.id)).status).toBe('cancelled');
    for (const e of [sent, blocked, failed]) await outcome(env, e.workflowId);
    const expected = new Map([
      [sent.id, 'sent'],
      [blocked.id, 'blocked'],
      [failed.id, 'failed'],
      [later.id, 'cancelled'],
    ]);
    const ids = [...expected.keys()];

    const rows = await waitFor('every event of the four emails delivered to the receiver', () => allDelivered(ids), {
      timeoutMs: 30_000,
    });
    // The log: one event per change — the state each email ended in and, if a loaded machine
    // made a delivery attempt time out, one `retrying` per later attempt.
    expect(new Map(rows.filter((r) => r.type !== 'retrying').map((r) => [r.email_id, r.type]))).toEqual(expected);
    for (const id of ids) {
      const { attempts } = (await env.pool.query('SELECT attempts FROM mailer.emails WHERE id = $1', [id])).rows[0];
      expect(rows.filter((r) => r.email_id === id && r.type === 'retrying')).toHaveLength(Math.max(0, attempts - 1));
    }
    // The receiver: every request is one of those events (a duplicate carries the same id), each email's once at least.
    const byId = new Map(rows.map((r) => [r.id, r]));
    const mine = receiver.received.filter((h) => expected.has(h.event.emailId));
    for (const h of mine) {
      expect(byId.get(h.event.id)).toMatchObject({ email_id: h.event.emailId, type: h.event.type });
      expect(h.headers['mailer-event-id']).toBe(h.event.id);
      expect(
        verifyWebhook(SECRET, h.headers['mailer-signature'] as string, h.body),
        `signature of event ${h.event.id}`,
      ).toBe(true);
    }
    expect(new Set(mine.map((h) => h.event.id))).toEqual(new Set(byId.keys()));
    // Details carry what an app acts on, never the message itself.
    const sentHook = mine.find((h) => h.event.type === 'sent')!;
    expect(sentHook.event.details).toMatchObject({
      attempts: expect.any(Number),
      messageId: expect.stringContaining(sent.id),
    });
    expect(mine.find((h) => h.event.type === 'blocked')!.event.details).toMatchObject({ reason: { rule: 'deny' } });
    expect(mine.find((h) => h.event.type === 'failed')!.event.details.smtpResponse).toMatch(/5\.7\.1/);
    for (const h of mine) expect(h.body).not.toMatch(/Your receipt|Thank you/);

    // A body changed in transit, or signed with another secret, does not verify.
    const sig = sentHook.headers['mailer-signature'] as string;
    expect(verifyWebhook(SECRET, sig, sentHook.body.replace('"sent"', '"failed"'))).toBe(false);
    expect(verifyWebhook('another-secret-0123456789', sig, sentHook.body)).toBe(false);
    expect(verifyWebhook(SECRET, sig, sentHook.body, { now: Date.now() + 10 * 60_000 })).toBe(false);

    // LISTEN: one notification per event, with its id, email and type.
    await waitFor('a notification for each event', () => rows.every((r) => notifications.some((n) => n.id === r.id)));
    for (const r of rows)
      expect(notifications.filter((n) => n.id === r.id)).toEqual([{ id: r.id, emailId: r.email_id, type: r.type }]);
    // 5.7.1 is a policy refusal: the address is not suppressed.
    expect((await env.client.suppressions.list()).map((s) => s.address)).not.toContain('someone@policy.example');
  });

  it('delivers everything to a receiver that was down, in order per email', async () => {
    await receiver.down();
    // Two deliveries fail once (451): those emails go retrying → sent.
    env.sink.replyQueue.push(
      { kind: 'reject', code: 451, message: '4.3.0 Temporary local problem' },
      { kind: 'reject', code: 451, message: '4.3.0 Temporary local problem' },
    );
    const emails = [
      await env.client.send(mail('dee@example.com')),
      await env.client.send(mail('eve@example.com')),
      await env.client.send(mail('fay@example.com')),
    ];
    for (const e of emails) expect(await outcome(env, e.workflowId)).toEqual({ status: 'sent' });
    const ids = emails.map((e) => e.id);
    // The sender kept trying while the receiver was down.
    await waitFor(
      'a webhook attempt retried while the receiver is down',
      async () => (await dbEvents(ids)).some((r) => r.webhook_attempts >= 2),
      { timeoutMs: 30_000 },
    );
    const before = await dbEvents(ids);
    expect(before.filter((r) => r.type === 'retrying').length).toBeGreaterThanOrEqual(2);
    expect(before.every((r) => r.webhook === 'pending')).toBe(true);

    await receiver.up();
    const rows = await waitFor('every event delivered after the receiver came back', () => allDelivered(ids), {
      timeoutMs: 30_000,
    });
    const arrived = receiver.events().filter((e) => ids.includes(e.emailId));
    for (const id of ids) {
      const logged = rows.filter((r) => r.email_id === id).map((r) => `${r.id}:${r.type}`);
      expect(
        arrived.filter((e) => e.emailId === id).map((e) => `${e.id}:${e.type}`),
        `events of ${id} in order`,
      ).toEqual(logged);
      expect(logged.at(-1)).toMatch(/:sent$/);
    }
  });

  it('records a permanent 4xx, shows it in `mailer`, does not retry it, and redelivers on request', async () => {
    receiver.answer = (h) => (h.event.type === 'blocked' ? { status: 410, body: 'unknown tenant' } : { status: 204 });
    const blocked = await env.client.send(mail('gus@denied.example'));
    await outcome(env, blocked.workflowId);
    const [event] = await waitFor(
      'the refusal recorded',
      async () => {
        const rows = await dbEvents([blocked.id]);
        return rows[0]?.webhook === 'refused' ? rows : undefined;
      },
      { timeoutMs: 30_000 },
    );
    expect(event).toMatchObject({
      webhook: 'refused',
      webhook_attempts: 1,
      webhook_last_error: 'HTTP 410: unknown tenant',
    });
    // Later events still flow, and the refused one was posted once only.
    const after = await env.client.send(mail('hal@example.com'));
    await outcome(env, after.workflowId);
    await waitFor("the next email's event delivered", () => allDelivered([after.id]), { timeoutMs: 30_000 });
    expect(receiver.received.filter((h) => h.event.id === event!.id)).toHaveLength(1);

    const summary = await runMailer(env, 'webhooks');
    expect(summary.code).toBe(0);
    expect(summary.json).toMatchObject({
      sender: 'RUNNING',
      counts: { refused: 1 },
      lastRefused: [{ id: event!.id, emailId: blocked.id, lastError: 'HTTP 410: unknown tenant' }],
    });
    const listed = await runMailer(env, 'events', blocked.id);
    expect(listed.json.events).toMatchObject([
      { id: event!.id, type: 'blocked', webhook: { state: 'refused', attempts: 1 } },
    ]);

    receiver.answer = () => ({ status: 204 });
    expect((await runMailer(env, 'events', 'redeliver', event!.id)).json).toEqual({ redelivered: 1 });
    await waitFor('the refused event delivered after redelivery', () => allDelivered([blocked.id]), {
      timeoutMs: 30_000,
    });
    expect(receiver.received.filter((h) => h.event.id === event!.id)).toHaveLength(2);
  });

  it('does not follow a redirect to another origin', async () => {
    const elsewhere = await WebhookReceiver.start();
    try {
      receiver.answer = () => ({ status: 307, headers: { location: elsewhere.url('/collect') } });
      const email = await env.client.send(mail('ida@example.com'));
      await outcome(env, email.workflowId);
      const [event] = await waitFor(
        'the redirect recorded as a failed attempt',
        async () => {
          const rows = await dbEvents([email.id]);
          return rows[0]?.webhook_last_error ? rows : undefined;
        },
        { timeoutMs: 30_000 },
      );
      expect(event!.webhook).toBe('pending');
      expect(event!.webhook_last_error).toBe(
        `HTTP 307: redirect to http://127.0.0.1:${elsewhere.port} not followed (only the same origin is); set WEBHOOK_URL to the final address`,
      );
      expect(elsewhere.received).toHaveLength(0);
      receiver.answer = () => ({ status: 204 });
      await waitFor('delivered once the receiver answers 2xx again', () => allDelivered([email.id]), {
        timeoutMs: 30_000,
      });
      expect(elsewhere.received).toHaveLength(0);
    } finally {
      await elsewhere.down();
    }
  });
});
