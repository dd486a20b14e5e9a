// Deny list, allow list and the per-recipient limit, judged by submission time.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { addRule, setPerRecipientLimit } from '../src/cli/rules.ts';
import { createTestEnv, outcome, row, type TestEnv } from './helpers.ts';

const FROM = 'alerts@acme.example';

describe('blockCheck', () => {
  let env: TestEnv;
  beforeAll(async () => {
    env = await createTestEnv();
  });
  afterEach(async () => {
    await env.pool.query('DELETE FROM mailer.recipient_rules');
    await env.pool.query('DELETE FROM mailer.recipient_limits');
  });
  afterAll(() => env?.close());

  const delivered = (address: string) => env.sink.messages.filter((m) => m.rcptTo.includes(address)).length;

  it('blocks a denied domain or address with a structured reason, and sends nothing', async () => {
    await env.startWorker();
    await addRule(env.db, 'deny', '@blocked.example');
    await addRule(env.db, 'deny', 'Mallory@Example.com');
    const byDomain = await env.client.send({
      from: FROM,
      to: 'ok@fine.example',
      cc: 'x@blocked.example',
      subject: 's',
      text: 't',
    });
    const byAddress = await env.client.send({ from: FROM, to: 'mallory@example.com', subject: 's', text: 't' });
    const fine = await env.client.send({ from: FROM, to: 'ok@fine.example', subject: 's', text: 't' });
    expect(await outcome(env, byDomain.workflowId)).toEqual({ status: 'blocked' });
    expect(await outcome(env, byAddress.workflowId)).toEqual({ status: 'blocked' });
    expect(await outcome(env, fine.workflowId)).toEqual({ status: 'sent' });
    expect((await row(env, byDomain.id)).block_reason).toEqual({
      rule: 'deny',
      matches: [{ recipient: 'x@blocked.example', pattern: '@blocked.example' }],
    });
    expect((await row(env, byAddress.id)).block_reason).toMatchObject({
      rule: 'deny',
      matches: [{ pattern: 'mallory@example.com' }],
    });
    expect((await row(env, byAddress.id)).attempts).toBe(0);
    expect(delivered('x@blocked.example')).toBe(0);
    expect(delivered('mallory@example.com')).toBe(0);
    expect(delivered('ok@fine.example')).toBe(1);
  });

  it('with an allow list, lets only allowed recipients through', async () => {
    await addRule(env.db, 'allow', '@allowed.example');
    await addRule(env.db, 'allow', 'vip@other.example');
    const ok = await env.client.send({
      from: FROM,
      to: ['a@allowed.example', 'vip@other.example'],
      subject: 's',
      text: 't',
    });
    const notOk = await env.client.send({
      from: FROM,
      to: 'a@allowed.example',
      bcc: 'someone@other.example',
      subject: 's',
      text: 't',
    });
    expect(await outcome(env, ok.workflowId)).toEqual({ status: 'sent' });
    expect(await outcome(env, notOk.workflowId)).toEqual({ status: 'blocked' });
    expect((await row(env, notOk.id)).block_reason).toEqual({ rule: 'allow', notAllowed: ['someone@other.example'] });
    expect(delivered('someone@other.example')).toBe(0);
  });

  it('judges the per-recipient limit by submission time, even when a backlog is processed later', async () => {
    // The backlog is submitted while no worker runs; the worker starts afterwards.
    const backlogEnv = await createTestEnv();
    try {
      await setPerRecipientLimit(backlogEnv.db, '2/60m');
      const to = 'busy@limit.example';
      const ids = [];
      for (let i = 0; i < 3; i++)
        ids.push(await backlogEnv.client.send({ from: FROM, to, subject: `n${i}`, text: 't' }));
      // An email to the same recipient submitted more than 60 minutes before the
      // others does not count against them.
      await backlogEnv.pool.query(
        "UPDATE mailer.emails SET created_on = created_on - interval '2 hours' WHERE id = $1",
        [ids[0]!.id],
      );
      await backlogEnv.pool.query(
        "UPDATE mailer.email_recipients SET created_on = created_on - interval '2 hours' WHERE email_id = $1",
        [ids[0]!.id],
      );
      const fourth = await backlogEnv.client.send({ from: FROM, to, subject: 'n3', text: 't' });
      await backlogEnv.startWorker();
      const results = await Promise.all([...ids, fourth].map((s) => outcome(backlogEnv, s.workflowId)));
      // n0 is alone in its window; n1, n2 are the first two of the recent window; n3 is the third.
      expect(results.map((r) => r.status)).toEqual(['sent', 'sent', 'sent', 'blocked']);
      expect((await row(backlogEnv, fourth.id)).block_reason).toMatchObject({
        rule: 'per_recipient_limit',
        limit: { maxEmails: 2, windowMinutes: 60 },
        over: [{ address: to, earlier: 2 }],
      });
      expect(backlogEnv.sink.messages.filter((m) => m.rcptTo.includes(to))).toHaveLength(3);
    } finally {
      await backlogEnv.close();
    }
  });
});
