// The event log at the database: the transitions of src/email/transitions.ts
// (and any other UPDATE) write their event in their own transaction, a rolled
// back change writes none, and the common queued → sending step writes none.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { claimDelivery, holdForOperator, markSentByOperator, releaseForRetry } from '../src/email/transitions.ts';
import { createTestEnv, type TestEnv } from './helpers.ts';

let env: TestEnv;

beforeAll(async () => {
  // No worker: these tests drive the record's transitions themselves.
  env = await createTestEnv();
});

afterAll(async () => {
  await env?.close();
});

async function events(emailId: string) {
  const { rows } = await env.pool.query<{ type: string; details: Record<string, unknown> }>(
    'SELECT type, details FROM mailer.email_events WHERE email_id = $1 ORDER BY id',
    [emailId],
  );
  return rows;
}

async function stored(): Promise<string> {
  // Scheduled far ahead: no workflow will touch it while the test drives it.
  return (
    await env.client.send(
      { from: 'app@example.com', to: 'ann@example.com', subject: 'S', text: 'T' },
      { sendAt: new Date(Date.now() + 86_400_000) },
    )
  ).id;
}

describe('event log', () => {
  it('records retrying (with the attempt), held and sent from the transitions, and nothing for the first claim', async () => {
    const id = await stored();
    const first = randomUUID();
    expect(await claimDelivery(env.db, id, first, 60, 'hold')).toBeDefined();
    expect(await events(id)).toEqual([]);
    await releaseForRetry(env.db, id, first, 'SmtpTemporary: 451 4.3.0 try later');
    const second = randomUUID();
    await claimDelivery(env.db, id, second, 60, 'hold');
    await holdForOperator(env.db, id, second);
    await markSentByOperator(env.db, id);
    expect(await events(id)).toEqual([
      { type: 'retrying', details: { attempt: 2, lastError: 'SmtpTemporary: 451 4.3.0 try later' } },
      { type: 'held', details: { attempts: 2, lastError: 'SmtpTemporary: 451 4.3.0 try later' } },
      {
        type: 'sent',
        details: expect.objectContaining({
          attempts: 2,
          messageId: expect.stringContaining(id),
          smtpResponse: expect.stringContaining('operator'),
        }),
      },
    ]);
  });

  it('writes the event in the transaction of the change: none when it rolls back, one when it commits', async () => {
    const id = await stored();
    const client = await env.pool.connect();
    try {
      await client.query('BEGIN');
      await client.query("UPDATE mailer.emails SET status = 'cancelled' WHERE id = $1", [id]);
      expect(
        (await client.query('SELECT count(*)::int AS n FROM mailer.email_events WHERE email_id = $1', [id])).rows[0].n,
      ).toBe(1);
      await client.query('ROLLBACK');
      expect(await events(id)).toEqual([]);
      // An operator's own UPDATE, outside the service's code, is recorded as well.
      await client.query("UPDATE mailer.emails SET status = 'cancelled' WHERE id = $1", [id]);
      expect((await events(id)).map((e) => e.type)).toEqual(['cancelled']);
      // Touching the status column without changing it records nothing.
      await client.query("UPDATE mailer.emails SET status = 'cancelled', updated_at = now() WHERE id = $1", [id]);
      expect((await events(id)).map((e) => e.type)).toEqual(['cancelled']);
    } finally {
      client.release();
    }
  });
});
