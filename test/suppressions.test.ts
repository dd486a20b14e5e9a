// The suppression list on the real stack: a 550 5.1.1 at RCPT TO puts the
// address on the list (with the email that found it and the reply); the next
// email to it ends `blocked` (rule `suppressed`) without any SMTP traffic for
// it; `mailer suppressions remove` lets the next one through; an address the
// app adds (a complaint) is refused the same way.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestEnv, outcome, row, runMailer, type TestEnv } from './helpers.ts';

let env: TestEnv;
const GONE = 'gone@example.com';
let refuseGone = true;

const mail = (to: string | string[]) => ({ from: 'app@example.com', to, subject: 'Your order', text: 'Shipped.' });

beforeAll(async () => {
  env = await createTestEnv();
  env.sink.rejectRecipient = (a) =>
    a === GONE && refuseGone
      ? { code: 550, message: '5.1.1 <gone@example.com>: Recipient address rejected: User unknown' }
      : undefined;
  await env.startWorker();
});

afterAll(async () => {
  await env?.close();
});

describe('suppression list', () => {
  it('suppresses an address refused with 5.1.1, blocks the next email to it without touching SMTP, and lets one through after remove', async () => {
    const first = await env.client.send(mail(GONE));
    expect((await outcome(env, first.workflowId)).failure).toBeDefined();
    expect((await row(env, first.id)).status).toBe('failed');
    const [listed] = await env.client.suppressions.list({ address: GONE });
    expect(listed).toMatchObject({
      address: GONE,
      reason: 'bounce',
      emailId: first.id,
      detail: expect.stringMatching(/^550 5\.1\.1 /),
    });

    const before = {
      connections: env.sink.counts.connections,
      transactions: env.sink.counts.transactions,
      rcpt: env.sink.counts.rcptTo.length,
    };
    const second = await env.client.send(mail(GONE));
    expect(await outcome(env, second.workflowId)).toEqual({ status: 'blocked' });
    const blocked = await row(env, second.id);
    expect(blocked.status).toBe('blocked');
    expect(blocked.block_reason).toMatchObject({
      rule: 'suppressed',
      matches: [{ recipient: GONE, reason: 'bounce', emailId: first.id }],
    });
    expect(blocked.attempts).toBe(0);
    expect({
      connections: env.sink.counts.connections,
      transactions: env.sink.counts.transactions,
      rcpt: env.sink.counts.rcptTo.length,
    }).toEqual(before);

    refuseGone = false; // the mailbox exists again
    const removed = await runMailer(env, 'suppressions', 'remove', GONE);
    expect(removed).toMatchObject({ code: 0, json: { action: 'remove', address: GONE, changed: true } });
    const third = await env.client.send(mail(GONE));
    expect(await outcome(env, third.workflowId)).toEqual({ status: 'sent' });
    expect(env.sink.messages.at(-1)?.rcptTo).toEqual([GONE]);
  });

  it('suppresses only the refused recipient of an email the others accepted', async () => {
    refuseGone = true;
    const email = await env.client.send(mail(['kim@example.com', GONE]));
    expect(await outcome(env, email.workflowId)).toEqual({ status: 'sent' });
    expect(env.sink.messages.at(-1)?.rcptTo).toEqual(['kim@example.com']);
    const all = (await env.client.suppressions.list()).map((s) => [s.address, s.reason, s.emailId]);
    expect(all).toEqual([[GONE, 'bounce', email.id]]);
  });

  it('blocks an address the app added (a complaint), and the CLI lists it', async () => {
    const added = await runMailer(
      env,
      'suppressions',
      'add',
      'Lee@Example.com',
      '--reason',
      'complaint',
      '--note',
      'provider complaint webhook',
    );
    expect(added).toMatchObject({ code: 0, json: { address: 'lee@example.com', reason: 'complaint', changed: true } });
    const email = await env.client.send(mail('lee@example.com'));
    expect(await outcome(env, email.workflowId)).toEqual({ status: 'blocked' });
    expect((await row(env, email.id)).block_reason).toMatchObject({
      rule: 'suppressed',
      matches: [{ recipient: 'lee@example.com', reason: 'complaint' }],
    });
    const list = await runMailer(env, 'suppressions', 'list');
    expect(list.json.suppressions).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          address: 'lee@example.com',
          reason: 'complaint',
          detail: 'provider complaint webhook',
          emailId: null,
        }),
      ]),
    );
  });

  it('refuses bad input with the field and the reason', async () => {
    const bad = await runMailer(env, 'suppressions', 'add', 'not-an-address', '--reason', 'complaint');
    expect(bad).toMatchObject({ code: 2, json: { error: { code: 'INVALID_INPUT', field: 'address' } } });
    const noReason = await runMailer(env, 'suppressions', 'add', 'x@example.com', '--reason', 'spite');
    expect(noReason).toMatchObject({ code: 2, json: { error: { code: 'INVALID_INPUT', field: '--reason' } } });
    await expect(env.client.suppressions.add('@example.com', { reason: 'manual' })).rejects.toMatchObject({
      code: 'INVALID_INPUT',
      field: 'address',
    });
  });
});
