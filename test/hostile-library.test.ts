// Hostile use of the library that is not about one bad field: a cancel that
// times out must leave nothing running behind the caller's back; a rule on a
// domain cannot be dodged with a subdomain; an idempotency key reveals no
// other email; a tampered attachment's failure puts no filename in history.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { InterceptingCall, type Interceptor } from '@grpc/grpc-js';
import { Client, Connection, defaultGrpcRetryOptions, makeGrpcRetryInterceptor } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { matches } from '../src/activities/block-check.ts';
import { mailOptions } from '../src/email/mail-options.ts';
import type { EmailRecord } from '../src/email/store.ts';
import { EmailNotFoundError, IdempotencyConflictError, Mailer, ValidationError } from '../src/index.ts';
import { createTestEnv, outcome, row, type TestEnv } from './helpers.ts';

const exec = promisify(execFile);
const VALID = { from: 'app@acme.example', to: 'ann@example.com', subject: 'Hi', text: 'Hello' };

describe('cancel() of an email whose workflow does not finish in time', () => {
  let env: TestEnv;
  beforeAll(async () => {
    env = await createTestEnv();
  });
  afterAll(() => env?.close());

  it('returns after timeoutMs with no call to Temporal still in flight', async () => {
    let inFlight = 0;
    const counting: Interceptor = (options, next) =>
      new InterceptingCall(next(options), {
        start(metadata, _listener, start) {
          inFlight++;
          start(metadata, {
            onReceiveStatus(status, done) {
              inFlight--;
              done(status);
            },
          });
        },
      });
    const connection = await Connection.connect({
      address: env.config.temporal.address,
      interceptors: [counting, makeGrpcRetryInterceptor(defaultGrpcRetryOptions())],
    });
    const mailer = await Mailer.connect({
      config: env.config,
      pool: env.pool,
      temporal: new Client({ connection, namespace: env.config.temporal.namespace }),
    });
    try {
      // No worker polls this file's task queue: the workflow cannot acknowledge the cancel.
      const { id } = await mailer.send({
        from: 'app@acme.example',
        to: 'ann@example.com',
        subject: 'Cancel me',
        text: 'Hello',
      });
      const started = Date.now();
      expect(await mailer.cancel(id, { timeoutMs: 300 })).toEqual({ id, status: 'queued' });
      expect(Date.now() - started).toBeLessThan(15_000);
      expect(inFlight).toBe(0);
    } finally {
      await connection.close();
    }
  });

  it('then close(): the process exits by itself with code 0, twice in a row', async () => {
    for (let run = 0; run < 2; run++) {
      const { stdout, stderr } = await exec(
        process.execPath,
        ['--import', 'tsx', path.join(import.meta.dirname, 'hostile-cancel-child.ts')],
        {
          env: {
            ...process.env,
            DATABASE_URL: env.config.databaseUrl,
            TEMPORAL_ADDRESS: env.config.temporal.address,
            TEMPORAL_NAMESPACE: env.config.temporal.namespace,
            TEMPORAL_TASK_QUEUE: env.config.temporal.taskQueue,
          },
          timeout: 60_000,
        },
      );
      expect(stderr).not.toMatch(/Channel has been shut down|Error/);
      const { id, status } = JSON.parse(stdout) as { id: string; status: string };
      expect(status).toBe('queued');
      const { rows } = await env.pool.query('SELECT status FROM mailer.emails WHERE id = $1', [id]);
      expect(rows[0].status).toBe('queued');
    }
  });
});

describe('rules, keys and failures an attacker would probe', () => {
  let env: TestEnv;
  beforeAll(async () => {
    env = await createTestEnv();
  });
  afterAll(() => env?.close());

  it.each([
    ['options that are not an object', () => env.client.send(VALID, 'tomorrow' as never), 'options'],
    ['a misspelt option', () => env.client.send(VALID, { sendat: '2026-12-24T09:00:00Z' } as never), 'options.sendat'],
    [
      "a cancel wait past setTimeout's range",
      () => env.client.cancel('00000000-0000-4000-8000-000000000000', { timeoutMs: 2 ** 31 }),
      'timeoutMs',
    ],
    [
      'a negative cancel wait',
      () => env.client.cancel('00000000-0000-4000-8000-000000000000', { timeoutMs: -1 }),
      'timeoutMs',
    ],
    [
      'a decision that is no decision',
      () => env.client.resolve('00000000-0000-4000-8000-000000000000', 'maybe' as never),
      'decision',
    ],
    ['an id that is no UUID', () => env.client.status("1' OR '1'='1"), 'id'],
    ['an id of the wrong type', () => env.client.cancel(42 as never), 'id'],
  ] as const)('refuses %s with a ValidationError naming the field', async (_name, call, field) => {
    const error = await call().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect(error).toMatchObject({ code: 'INVALID_INPUT', field });
  });

  it('a missing email is an EmailNotFoundError with code and field', async () => {
    const error = await env.client.status('00000000-0000-4000-8000-000000000000').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EmailNotFoundError);
    expect(error).toMatchObject({ code: 'NOT_FOUND', field: 'id' });
  });

  it('a domain rule covers its subdomains, and only them', () => {
    expect(matches('a@competitor.example', '@competitor.example')).toBe(true);
    expect(matches('a@eu.mail.competitor.example', '@competitor.example')).toBe(true);
    expect(matches('a@notcompetitor.example', '@competitor.example')).toBe(false);
    expect(matches('a@competitor.example.evil', '@competitor.example')).toBe(false);
    expect(matches('competitor.example@evil.example', '@competitor.example')).toBe(false);
    expect(matches('a@competitor.example', 'b@competitor.example')).toBe(false);
  });

  it('the idempotency-key conflict does not reveal the other email', async () => {
    const first = await env.client.send(
      { from: 'app@acme.example', to: 'ann@example.com', subject: 'One', text: 'Hello' },
      { idempotencyKey: 'guessable-key-1' },
    );
    const error = await env.client
      .send(
        { from: 'app@acme.example', to: 'eve@example.com', subject: 'Two', text: 'Hello' },
        { idempotencyKey: 'guessable-key-1' },
      )
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(IdempotencyConflictError);
    expect(error).toMatchObject({ code: 'IDEMPOTENCY_CONFLICT', field: 'idempotencyKey' });
    expect(
      JSON.stringify({ ...(error as object), message: (error as Error).message, stack: (error as Error).stack }),
    ).not.toContain(first.id);
  });

  it('a tampered attachment fails the email with its position in history, never its filename', async () => {
    const filename = 'salary-review-jane-doe.pdf';
    const sent = await env.client.send({
      from: 'app@acme.example',
      to: 'ann@example.com',
      subject: 'Review',
      text: 'Attached',
      attachments: [{ filename, content: Buffer.from('%PDF-1.4 original') }],
    });
    // The bytes change in Postgres before any worker has looked at the email.
    await env.pool.query("UPDATE mailer.email_attachments SET content = '\\x00' WHERE email_id = $1", [sent.id]);
    await env.startWorker();
    const result = await outcome(env, sent.workflowId);
    expect(result.failure).toBeDefined();
    const history = await env.client.temporal.workflow.getHandle(sent.workflowId).fetchHistory();
    const text = JSON.stringify(history);
    expect(text).toContain(`attachment 0 of email ${sent.id} does not match its checksum`);
    expect(text).not.toContain('salary-review');
    expect(
      env.sink.messages.filter((m) => m.rcptTo.includes('ann@example.com') && m.raw.includes('Review')),
    ).toHaveLength(0);
  });

  it('blocks a subdomain of a denied domain and delivers to a look-alike domain', async () => {
    await env.pool.query("INSERT INTO mailer.recipient_rules (kind, pattern) VALUES ('deny', '@competitor.example')");
    const sub = await env.client.send({
      from: 'app@acme.example',
      to: 'spy@eu.competitor.example',
      subject: 'Prices',
      text: 'Hello',
    });
    const alike = await env.client.send({
      from: 'app@acme.example',
      to: 'ann@notcompetitor.example',
      subject: 'Prices',
      text: 'Hello',
    });
    expect(await outcome(env, sub.workflowId)).toEqual({ status: 'blocked' });
    expect(await outcome(env, alike.workflowId)).toEqual({ status: 'sent' });
    expect((await row(env, sub.id)).block_reason).toMatchObject({
      rule: 'deny',
      matches: [{ recipient: 'spy@eu.competitor.example', pattern: '@competitor.example' }],
    });
    expect(env.sink.messages.flatMap((m) => m.rcptTo)).not.toContain('spy@eu.competitor.example');
  });
});

describe('the last gate before nodemailer', () => {
  it('sends an attachment type from before the allowlist (message/*, multipart/*) as opaque bytes', () => {
    const record = {
      from: { address: 'a@acme.example' },
      to: [{ address: 'b@example.com' }],
      cc: [],
      bcc: [],
      replyTo: [],
      subject: 's',
      text: 't',
      html: null,
      headers: {},
      messageId: '<x@acme.example>',
      createdOn: new Date(),
    } as unknown as EmailRecord;
    const attachment = (contentType: string) => ({
      filename: 'f',
      contentType,
      content: Buffer.from('x'),
      size: 1,
      checksum: '',
      cid: null,
    });
    const options = mailOptions(record, [
      attachment('message/rfc822'),
      attachment('multipart/mixed'),
      attachment('application/pdf'),
    ]);
    expect((options.attachments ?? []).map((a) => a.contentType)).toEqual([
      'application/octet-stream',
      'application/octet-stream',
      'application/pdf',
    ]);
  });
});
