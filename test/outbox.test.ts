// Enqueueing inside the caller's own transaction: send() with `db`, sendMany(),
// and SQL's mailer.send_email(). The email exists if and only if the caller's
// transaction commits; the relay (in the worker) starts it after the commit,
// woken by the notification, or by its sweep when a notification was missed.
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, IdempotencyConflictError, ValidationError } from '../src/index.ts';
import { loadConfig } from '../src/config.ts';
import { createTestEnv, outcome, row, runMailer, waitFor, type TestEnv } from './helpers.ts';

const FROM = 'shop@acme.example';
const email = (to: string, subject: string) => ({ from: FROM, to, subject, text: `Thank you (${subject})` });

describe("enqueue in the caller's transaction", () => {
  let env: TestEnv;
  beforeAll(async () => {
    // A sweep that never comes during the file: every start below is the notification's doing.
    env = await createTestEnv({ MAILER_RELAY_SWEEP_INTERVAL: '1h' });
    await env.pool.query('CREATE TABLE public.orders (id serial PRIMARY KEY, item text NOT NULL)');
    await env.startWorker();
  });
  afterAll(() => env?.close());

  async function transaction<T>(fn: (client: pg.PoolClient) => Promise<T>, commit = true): Promise<T> {
    const client = await env.pool.connect();
    try {
      await client.query('BEGIN');
      const value = await fn(client);
      await client.query(commit ? 'COMMIT' : 'ROLLBACK');
      return value;
    } catch (err) {
      await client.query('ROLLBACK');
      throw err;
    } finally {
      client.release();
    }
  }

  const copies = (id: string) => env.sink.messages.filter((m) => m.raw.includes(`<${id}@acme.example>`)).length;
  const sentOnce = (id: string) =>
    waitFor(`email ${id} sent`, async () => (await row(env, id))?.email_has_been_sent === true, { timeoutMs: 30_000 });
  const outboxSize = async () =>
    (await env.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM mailer.outbox')).rows[0]!.n;

  it('send({ db }): a rollback leaves no trace; a commit is started by the relay and delivered once', async () => {
    const rolledBack = await transaction(async (client) => {
      await client.query("INSERT INTO public.orders (item) VALUES ('never placed')");
      return env.client.send(email('rollback@example.com', 'rolled back'), { db: client });
    }, false);
    expect(rolledBack.workflowStarted).toBe(false);

    const committed = await transaction(async (client) => {
      await client.query("INSERT INTO public.orders (item) VALUES ('widget')");
      const sent = await env.client.send(email('commit@example.com', 'order placed'), { db: client });
      // Nothing starts before the commit: the record is not even visible outside the transaction.
      expect(await row(env, sent.id)).toBeUndefined();
      return sent;
    });
    expect(committed).toMatchObject({ created: true, workflowStarted: false });
    await sentOnce(committed.id);
    expect(await outcome(env, committed.workflowId)).toEqual({ status: 'sent' });
    expect(copies(committed.id)).toBe(1);
    // The relay passed by after the rollback too: the rolled-back email never existed.
    expect(await row(env, rolledBack.id)).toBeUndefined();
    expect(copies(rolledBack.id)).toBe(0);
    expect(env.sink.messages.filter((m) => m.raw.includes('rolled back'))).toHaveLength(0);
    await waitFor('the outbox emptied', async () => (await outboxSize()) === 0);
  });

  it('keeps the idempotency rules inside the transaction', async () => {
    const key = 'order-7-confirmation';
    const first = await transaction((client) =>
      env.client.send(email('idem@example.com', 'order 7'), { db: client, idempotencyKey: key }),
    );
    const again = await transaction((client) =>
      env.client.send(email('idem@example.com', 'order 7'), { db: client, idempotencyKey: key }),
    );
    expect(again).toMatchObject({ id: first.id, created: false });
    await expect(
      transaction((client) =>
        env.client.send(email('idem@example.com', 'another'), { db: client, idempotencyKey: key }),
      ),
    ).rejects.toBeInstanceOf(IdempotencyConflictError);
    await sentOnce(first.id);
    expect(copies(first.id)).toBe(1);
  });

  it('sendMany({ db }): one statement for many, validated first (the field names the item), all delivered', async () => {
    const bad = transaction((client) =>
      env.client.sendMany(
        [{ email: email('many-0@example.com', 'many 0') }, { email: email('bob@[10.0.0.1]', 'many 1') }],
        { db: client },
      ),
    );
    await expect(bad).rejects.toMatchObject({ name: 'ValidationError', field: 'items[1].email.to' });
    await expect(bad).rejects.toBeInstanceOf(ValidationError);

    const results = await transaction(async (client) => {
      await client.query("INSERT INTO public.orders (item) VALUES ('three widgets')");
      return env.client.sendMany(
        [0, 1, 2].map((i) => ({
          email: {
            ...email(`many-${i}@example.com`, `many ${i}`),
            attachments: [{ filename: `r${i}.txt`, content: `receipt ${i}` }],
          },
          idempotencyKey: `many-${i}`,
        })),
        { db: client },
      );
    });
    expect(results.map((r) => r.created)).toEqual([true, true, true]);
    for (const r of results) await sentOnce(r.id);
    for (const r of results) expect(copies(r.id)).toBe(1);
    const { rows } = await env.pool.query<{ filename: string }>(
      'SELECT filename FROM mailer.email_attachments WHERE email_id = ANY($1) ORDER BY filename',
      [results.map((r) => r.id)],
    );
    expect(rows.map((r) => r.filename)).toEqual(['r0.txt', 'r1.txt', 'r2.txt']);
  });

  it('sendMany() without db: all in one transaction of its own, then started; an idempotency conflict stores none of them', async () => {
    const [first] = await env.client.sendMany([
      { email: email('solo-0@example.com', 'solo 0'), idempotencyKey: 'solo-0' },
    ]);
    await expect(
      env.client.sendMany([
        { email: email('solo-1@example.com', 'solo 1'), idempotencyKey: 'solo-1' },
        { email: email('solo-0@example.com', 'not solo 0'), idempotencyKey: 'solo-0' },
      ]),
    ).rejects.toBeInstanceOf(IdempotencyConflictError);
    expect((await env.pool.query("SELECT 1 FROM mailer.emails WHERE idempotency_key = 'solo-1'")).rowCount).toBe(0);
    const results = await env.client.sendMany(
      [1, 2].map((i) => ({ email: email(`solo-${i}@example.com`, `solo ${i}`) })),
    );
    expect(results.map((r) => r.workflowStarted)).toEqual([true, true]);
    for (const r of [first!, ...results]) await sentOnce(r.id);
    for (const r of [first!, ...results]) expect(copies(r.id)).toBe(1);
  });

  it('mailer.send_email(): from SQL, in the transaction, delivered once with its attachment', async () => {
    const message = {
      from: `Acme <${FROM}>`,
      to: ['sql@example.com'],
      subject: 'From SQL',
      text: 'Hello from any language',
      attachments: [
        { filename: 'note.txt', content: Buffer.from('bytes from SQL').toString('base64'), contentType: 'text/plain' },
      ],
    };
    const id = await transaction(async (client) => {
      await client.query("INSERT INTO public.orders (item) VALUES ('sql order')");
      return (
        await client.query<{ id: string }>('SELECT mailer.send_email($1::jsonb, $2) AS id', [message, 'sql-order-1'])
      ).rows[0]!.id;
    });
    await sentOnce(id);
    const received = env.sink.messages.filter((m) => m.raw.includes(`<${id}@acme.example>`));
    expect(received).toHaveLength(1);
    expect(received[0]!.raw.toString()).toContain(Buffer.from('bytes from SQL').toString('base64'));
    const record = await row(env, id);
    expect(record).toMatchObject({ status: 'sent', subject: 'From SQL', sender: { name: 'Acme', address: FROM } });
    // The raw message is gone once admitted; the same key and message give the same id, another message an error.
    expect((await env.pool.query('SELECT 1 FROM mailer.submissions WHERE email_id = $1', [id])).rowCount).toBe(0);
    const again = await env.pool.query<{ id: string }>('SELECT mailer.send_email($1::jsonb, $2) AS id', [
      message,
      'sql-order-1',
    ]);
    expect(again.rows[0]!.id).toBe(id);
    await expect(
      env.pool.query('SELECT mailer.send_email($1::jsonb, $2)', [{ ...message, subject: 'changed' }, 'sql-order-1']),
    ).rejects.toMatchObject({ code: '23505', column: 'idempotency_key' });
  });

  it('send_email() refuses a malformed message at call time, naming the field (SQLSTATE 22023)', async () => {
    const call = (message: unknown, key: string | null = null) =>
      env.pool.query('SELECT mailer.send_email($1::jsonb, $2)', [JSON.stringify(message), key]);
    await expect(call({ from: FROM, subject: 'x', text: 'y' })).rejects.toMatchObject({
      code: '22023',
      column: 'to',
      message: 'to: is required',
    });
    await expect(call({ from: FROM, to: [], subject: 'x', text: 'y' })).rejects.toMatchObject({
      code: '22023',
      message: 'to: must contain at least one address',
    });
    await expect(call({ from: FROM, to: 'a@example.com', subject: 'x' })).rejects.toMatchObject({
      code: '22023',
      column: 'text',
    });
    await expect(
      call({ from: FROM, to: 'a@example.com', subject: 'x', text: 'y', path: '/etc/passwd' }),
    ).rejects.toMatchObject({ code: '22023', message: 'path: unknown field' });
    await expect(
      call({ from: FROM, to: 'a@example.com', subject: 'x', text: 'y', attachments: [{ filename: 'a' }] }),
    ).rejects.toMatchObject({ code: '22023', column: 'attachments[0].content' });
    await expect(call([1, 2])).rejects.toMatchObject({
      code: '22023',
      message: 'message: expected a JSON object, not array',
    });
    await expect(call({ from: FROM, to: 'a@example.com', subject: 'x', text: 'y' }, 'has space')).rejects.toMatchObject(
      { code: '22023', column: 'idempotency_key' },
    );
    // Nothing was written by any of them.
    expect(await outboxSize()).toBe(0);
  });

  it('a message the validator refuses ends `rejected` with the field and the reason: never sent, shown by status and list', async () => {
    const id = (
      await env.pool.query<{ id: string }>('SELECT mailer.send_email($1::jsonb) AS id', [
        { from: FROM, to: 'bob@[10.0.0.1]', subject: 'nope', text: 'y' },
      ])
    ).rows[0]!.id;
    await waitFor('the email rejected', async () => (await row(env, id))?.status === 'rejected');
    const record = await row(env, id);
    expect(record).toMatchObject({
      rejection: { field: 'to', reason: expect.stringContaining('IP address / domain literals') },
      last_error: expect.stringMatching(/^to: is not a valid email address/),
      email_has_been_sent: false,
      message_id: null,
    });
    // Its workflow (started after the verdict was written) ran to the end at once, and the Web UI's
    // filter finds it (visibility trails the result: waited for).
    await waitFor(
      'its workflow started',
      async () => (await env.pool.query('SELECT 1 FROM mailer.outbox WHERE email_id = $1', [id])).rowCount === 0,
    );
    expect(await outcome(env, `email-${id}`)).toEqual({ status: 'rejected' });
    await waitFor(
      'the workflow listed under EmailStatus = rejected',
      async () =>
        (await env.client.temporal.workflow.count(`WorkflowId = 'email-${id}' AND EmailStatus = 'rejected'`)).count ===
        1,
    );
    const status = await runMailer(env, 'status', id);
    expect(status.json).toMatchObject({
      status: 'rejected',
      messageId: null,
      rejection: { field: 'to' },
      lastError: expect.stringMatching(/^to: /),
    });
    const list = await runMailer(env, 'list', '--status', 'rejected');
    expect(list.json.emails).toEqual([
      expect.objectContaining({ id, status: 'rejected', lastError: expect.stringMatching(/^to: /) }),
    ]);
    // The raw message is kept for inspection; nothing reached the SMTP server.
    expect(
      (await env.pool.query('SELECT message FROM mailer.submissions WHERE email_id = $1', [id])).rows[0].message.to,
    ).toBe('bob@[10.0.0.1]');
    expect(env.sink.messages.filter((m) => m.raw.includes('nope'))).toHaveLength(0);
  });

  it('a missed notification is covered by the sweep', async () => {
    // This file's worker sweeps hourly; a second one sweeps every 500 ms, and
    // has made its first pass (at connect) before the commit below.
    const sweeper = await env.startWorker({ worker: { ...env.config.worker, relaySweepMs: 500 } });
    await waitFor("the second relay's first pass", () => sweeper.relay!.passes >= 1);
    await env.pool.query('ALTER TABLE mailer.outbox DISABLE TRIGGER outbox_notify');
    try {
      const quiet = await transaction((client) =>
        env.client.send(email('quiet@example.com', 'no notification'), { db: client }),
      );
      await sentOnce(quiet.id);
      expect(copies(quiet.id)).toBe(1);
    } finally {
      await env.pool.query('ALTER TABLE mailer.outbox ENABLE TRIGGER outbox_notify');
    }
  });
});

describe('MAILER_RELAY_SWEEP_INTERVAL', () => {
  const env = { DATABASE_URL: 'postgres://u:p@127.0.0.1:5432/app' };
  it('is a duration of at least 100 ms, named when it is not', () => {
    expect(loadConfig({ ...env }).worker.relaySweepMs).toBe(5000);
    expect(loadConfig({ ...env, MAILER_RELAY_SWEEP_INTERVAL: '250ms' }).worker.relaySweepMs).toBe(250);
    for (const bad of ['0s', '10ms', 'often']) {
      expect(() => loadConfig({ ...env, MAILER_RELAY_SWEEP_INTERVAL: bad })).toThrow(ConfigError);
      expect(() => loadConfig({ ...env, MAILER_RELAY_SWEEP_INTERVAL: bad })).toThrow(/^MAILER_RELAY_SWEEP_INTERVAL: /);
    }
  });
});
