// `mailer` as a user runs it: the real bin script in a child process, against
// the real stack, reading its one JSON object per command.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestEnv, outcome, receivedMessages, runMailer, type TestEnv } from './helpers.ts';

describe('mailer CLI', () => {
  let env: TestEnv;
  let dir: string;
  beforeAll(async () => {
    env = await createTestEnv();
    await env.startWorker();
    dir = await mkdtemp(path.join(os.tmpdir(), 'mailer-cli-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
    await env?.close();
  });

  const mailer = (...args: string[]) => runMailer(env, ...args);

  it('sends with an attachment and shows the status', async () => {
    const file = path.join(dir, 'report.csv');
    await writeFile(file, 'a,b\n1,2\n');
    const sent = await mailer(
      'send',
      '--from',
      'ops@acme.example',
      '--to',
      'a@example.com',
      '--to',
      'b@example.com',
      '--subject',
      'Report',
      '--text',
      'See attached',
      '--attach',
      file,
      '--header',
      'X-Tag: weekly',
    );
    expect(sent.code).toBe(0);
    expect(sent.json).toMatchObject({ workflowId: `email-${sent.json.id}`, created: true, workflowStarted: true });
    expect(await outcome(env, sent.json.workflowId)).toEqual({ status: 'sent' });

    const status = await mailer('status', sent.json.id);
    expect(status.code).toBe(0);
    expect(status.json).toMatchObject({
      id: sent.json.id,
      status: 'sent',
      attempts: 1,
      lastError: null,
      messageId: `<${sent.json.id}@acme.example>`,
    });
    expect(status.json.sentAt).toMatch(/^\d{4}-\d\d-\d\dT/);

    const [message] = await receivedMessages(env.sink, 1);
    expect(message!.attachments[0]!.filename).toBe('report.csv');
    expect(message!.attachments[0]!.content.toString()).toBe('a,b\n1,2\n');
    expect(message!.headers.get('x-tag')).toBe('weekly');
  });

  it('refuses invalid input with exit 2 and one line naming the field', async () => {
    const bad = await mailer(
      'send',
      '--from',
      'ops@acme.example',
      '--to',
      'not-an-address',
      '--subject',
      'x',
      '--text',
      'y',
    );
    expect(bad.code).toBe(2);
    expect(bad.json.error).toMatchObject({ code: 'INVALID_INPUT', field: 'to[0]' });
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    expect(bad.stderr).toMatch(/^error: to\[0\]: /);

    const unknown = await mailer('send', '--from', 'ops@acme.example', '--bogus', 'x');
    expect(unknown.code).toBe(2);
    expect(unknown.json.error.field).toBe('--bogus');

    const missing = await mailer('status', '00000000-0000-4000-8000-000000000000');
    expect(missing.code).toBe(1);
    expect(missing.json.error.code).toBe('NOT_FOUND');
  });

  it('setup finds the search attributes already registered on the local stack', async () => {
    const setup = await mailer('setup');
    expect(setup.json).toEqual({
      namespace: 'default',
      added: [],
      present: ['EmailStatus', 'EmailAttempt', 'EmailErrorClass'],
    });
  });

  it('manages rules and the per-recipient limit', async () => {
    expect((await mailer('rules', 'add', 'deny', '@Spam.Example')).json).toMatchObject({
      action: 'add',
      kind: 'deny',
      pattern: '@spam.example',
      changed: true,
    });
    expect((await mailer('rules', 'add', 'allow', 'boss@acme.example')).json).toMatchObject({ changed: true });
    const listed = await mailer('rules', 'list');
    expect(listed.json.rules).toEqual([
      { kind: 'allow', pattern: 'boss@acme.example', source: 'database' },
      { kind: 'deny', pattern: '@spam.example', source: 'database' },
    ]);
    expect((await mailer('rules', 'remove', 'allow', 'boss@acme.example')).json).toMatchObject({ changed: true });
    const badPattern = await mailer('rules', 'add', 'deny', 'not a pattern');
    expect(badPattern.code).toBe(2);
    expect(badPattern.json.error.field).toBe('PATTERN');

    expect((await mailer('limits', 'set', '--per-recipient', '5/10min')).json).toEqual({
      perRecipient: { maxEmails: 5, windowMinutes: 10 },
    });
    expect((await mailer('limits', 'show')).json).toEqual({
      perRecipient: { maxEmails: 5, windowMinutes: 10 },
      source: 'database',
    });
    const badLimit = await mailer('limits', 'set', '--per-recipient', 'lots');
    expect(badLimit.code).toBe(2);
    expect(badLimit.json.error.field).toBe('--per-recipient');
  });
});
