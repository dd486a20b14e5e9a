// Every bad input is refused by send() with the field and the reason, before
// anything is written: no record, no attachment row, no workflow.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EmailInput, ValidationError } from '../src/index.ts';
import { BAD_INPUTS, BAD_SEND_AT, VALID_INPUT } from './bad-inputs.ts';
import { createTestEnv, type TestEnv } from './helpers.ts';

describe('bad input through send()', () => {
  let env: TestEnv;
  beforeAll(async () => {
    env = await createTestEnv();
  });
  afterAll(() => env?.close());

  it.each(BAD_INPUTS.map((c) => [c.name, c] as const))('refuses %s', async (_name, c) => {
    const error = await env.client.send(c.input as EmailInput).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).field).toBe(c.field);
    expect((error as ValidationError).reason).toMatch(c.reason);
  });

  it.each([
    ['sendAt', { sendAt: 'next tuesday' }],
    ['sendAt', { sendAt: '2026-11-23 10:00' }],
    ['idempotencyKey', { idempotencyKey: 'has spaces in it' }],
    ['idempotencyKey', { idempotencyKey: '' }],
    ...BAD_SEND_AT.map(([, sendAt]) => ['sendAt', { sendAt }] as const),
  ] as const)('refuses a bad %s option', async (field, options) => {
    const error = await env.client.send(VALID_INPUT as unknown as EmailInput, options).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).field).toBe(field);
  });

  it('wrote nothing and started no workflow for any of them', async () => {
    const counts = await env.pool.query(
      'SELECT (SELECT count(*) FROM mailer.emails)::int AS emails, (SELECT count(*) FROM mailer.email_attachments)::int AS attachments, (SELECT count(*) FROM mailer.email_recipients)::int AS recipients',
    );
    expect(counts.rows[0]).toEqual({ emails: 0, attachments: 0, recipients: 0 });
    const { count } = await env.client.temporal.workflow.count(`TaskQueue = '${env.config.temporal.taskQueue}'`);
    expect(count).toBe(0);
  });

  it('still accepts a valid email afterwards', async () => {
    const sent = await env.client.send(VALID_INPUT as unknown as EmailInput);
    expect(sent.created).toBe(true);
  });
});
