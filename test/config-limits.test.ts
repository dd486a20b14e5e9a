// `mailer limits set` parses the per-recipient limit with the parser and
// bounds of EMAIL_PER_RECIPIENT_LIMIT: a limit out of bounds is refused before
// Postgres sees it (its columns and blockCheck's make_interval are integers),
// and the largest limit it accepts is judged correctly.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setPerRecipientLimit, showLimits } from '../src/cli/rules.ts';
import { ValidationError } from '../src/errors.ts';
import { createTestEnv, outcome, row, type TestEnv } from './helpers.ts';

describe('per-recipient limit bounds', () => {
  let env: TestEnv;
  beforeAll(async () => {
    env = await createTestEnv();
  });
  afterAll(() => env?.close());

  it.each(['1/99999999h', '1/8761h', '1000001/1m', '99999999999/1m'])(
    'refuses %s, naming the option, and keeps the stored limit',
    async (value) => {
      await setPerRecipientLimit(env.db, '5/10m');
      const err = await setPerRecipientLimit(env.db, value).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ValidationError);
      expect((err as ValidationError).field).toBe('--per-recipient');
      expect((err as ValidationError).reason).toMatch(/^(window|emails) ".+" must be between/);
      expect(await showLimits(env.db, env.config)).toEqual({
        perRecipient: { maxEmails: 5, windowMinutes: 10 },
        source: 'database',
      });
    },
  );

  it('stores the largest limit it accepts, and blockCheck counts across the whole window', async () => {
    expect(await setPerRecipientLimit(env.db, '1/8760h')).toEqual({ maxEmails: 1, windowMinutes: 525_600 });
    await env.startWorker();
    const to = 'ann@example.com';
    const first = await env.client.send({ from: 'alerts@acme.example', to, subject: 'one', text: 't' });
    expect(await outcome(env, first.workflowId)).toEqual({ status: 'sent' });
    // The earlier email, submitted 364 days before, still counts against the next.
    await env.pool.query(
      "UPDATE mailer.email_recipients SET created_on = created_on - interval '364 days' WHERE email_id = $1",
      [first.id],
    );
    const second = await env.client.send({ from: 'alerts@acme.example', to, subject: 'two', text: 't' });
    expect(await outcome(env, second.workflowId)).toEqual({ status: 'blocked' });
    expect((await row(env, second.id)).block_reason).toMatchObject({
      rule: 'per_recipient_limit',
      limit: { maxEmails: 1, windowMinutes: 525_600 },
      over: [{ address: to, earlier: 1 }],
    });
    expect(env.sink.messages.filter((m) => m.rcptTo.includes(to))).toHaveLength(1);
  });
});
