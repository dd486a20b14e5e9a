// The bad-input matrix through `mailer send` (the command's own code, run
// in-process for speed; test/cli.test.ts runs the real binary): each case
// exits 2 with one line naming the field, and nothing is written or started.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../src/cli/main.ts';
import { createTestEnv, type TestEnv, waitFor } from './helpers.ts';

const OK = ['--from', 'app@acme.example', '--to', 'ann@example.com', '--subject', 'Hi', '--text', 'Hello'];
/** The valid command with one option replaced (or added). */
function withOption(name: string, value: string | null, extra: string[] = []): string[] {
  const args: string[] = [];
  for (let i = 0; i < OK.length; i += 2) if (OK[i] !== name) args.push(OK[i]!, OK[i + 1]!);
  if (value !== null) args.push(name, value);
  return [...args, ...extra];
}

let dir: string;
const big = () => path.join(dir, 'big.bin');

const CASES: [string, string[], string][] = [
  ['malformed to', withOption('--to', 'not-an-address'), 'to[0]'],
  ['two @', withOption('--to', 'a@b@example.com'), 'to[0]'],
  ['quoted local part routing elsewhere', withOption('--to', '"victim@evil.example"@example.com'), 'to[0]'],
  ['comment in address', withOption('--to', 'ann(evil.example)@example.com'), 'to[0]'],
  ['source route', withOption('--to', '@relay.example:ann@example.com'), 'to[0]'],
  ['percent routing', withOption('--to', 'ann%evil.example@example.com'), 'to[0]'],
  ['unicode local part', withOption('--to', 'jöhn@example.com'), 'to[0]'],
  ['IDN domain', withOption('--to', 'ann@bücher.example'), 'to[0]'],
  ['IP literal', withOption('--to', 'ann@[10.0.0.1]'), 'to[0]'],
  ['two addresses in one --to', withOption('--to', 'a@example.com, b@example.com'), 'to[0]'],
  ['bad cc', [...OK, '--cc', 'nope'], 'cc[0]'],
  ['bad bcc', [...OK, '--bcc', 'x@'], 'bcc[0]'],
  ['bad reply-to', [...OK, '--reply-to', '@example.com'], 'replyTo[0]'],
  ['LF in from display name', withOption('--from', 'Evil\nBcc: x@evil.example <app@acme.example>'), 'from'],
  ['missing from', withOption('--from', null), 'from'],
  ['CR/LF in subject', withOption('--subject', 'Hi\r\nBcc: x@evil.example'), 'subject'],
  ['NUL in subject', withOption('--subject', 'Hi\u0000there'), 'subject'],
  ['overlong subject', withOption('--subject', 'x'.repeat(256)), 'subject'],
  ['empty subject', withOption('--subject', ''), 'subject'],
  ['no body', withOption('--text', null), 'text'],
  ['empty body', withOption('--text', ''), 'text'],
  ['NUL in html', [...withOption('--text', null), '--html', '<p>\u0000</p>'], 'html'],
  ['header not allowed', [...OK, '--header', 'Bcc: x@evil.example'], 'headers.Bcc'],
  ['CRLF in header value', [...OK, '--header', 'X-Tag: a\r\nBcc: x@evil.example'], 'headers.X-Tag'],
  ['overlong header value', [...OK, '--header', `X-Tag: ${'x'.repeat(901)}`], 'headers.X-Tag'],
  ['header without a colon', [...OK, '--header', 'X-Tag'], '--header'],
  ['too many recipients', [...OK, ...Array.from({ length: 50 }, (_, i) => ['--cc', `c${i}@example.com`]).flat()], 'cc'],
  ['attachment that cannot be read', [...OK, '--attach', '/nonexistent/file.pdf'], '--attach'],
  ['oversize attachment', [...OK, '--attach', 'BIG'], '--attach'],
  ['send-at not ISO', [...OK, '--send-at', 'tomorrow 9am'], 'sendAt'],
  ['send-at without a time zone', [...OK, '--send-at', '2026-12-01T09:00:00'], 'sendAt'],
  ['idempotency key with spaces', [...OK, '--idempotency-key', 'a b'], 'idempotencyKey'],
  ['unknown option', [...OK, '--path', '/etc/passwd'], '--path'],
  ['option without its value', [...OK, '--to'], '--to'],
];

describe('mailer send: bad input', () => {
  let env: TestEnv;
  beforeAll(async () => {
    env = await createTestEnv();
    Object.assign(process.env, {
      DATABASE_URL: env.config.databaseUrl,
      TEMPORAL_ADDRESS: env.config.temporal.address,
      TEMPORAL_NAMESPACE: env.config.temporal.namespace,
      TEMPORAL_TASK_QUEUE: env.config.temporal.taskQueue,
    });
    dir = await mkdtemp(path.join(os.tmpdir(), 'mailer-cli-bad-'));
    await writeFile(big(), Buffer.alloc(10 * 1024 * 1024 + 1, 1));
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
    await env?.close();
  });

  async function run(args: string[]) {
    const out: string[] = [];
    const err: string[] = [];
    const code = await main(
      ['send', ...args.map((a) => (a === 'BIG' ? big() : a)), '--json'],
      (l) => out.push(l),
      (l) => err.push(l),
    );
    return { code, out, err };
  }

  it.each(CASES)('%s → exit 2, field %s named', async (_name, args, field) => {
    const { code, out, err } = await run(args);
    expect(code).toBe(2);
    expect(err).toHaveLength(1);
    expect(err[0]).toMatch(new RegExp(`^error: ${field.replace(/[[\].]/g, '\\$&')}: \\S`));
    expect(err[0]).not.toContain('\n');
    expect(JSON.parse(out[0]!).error.field).toBe(field);
  });

  it('refuses another payload under a used idempotency key', async () => {
    expect((await run([...OK, '--idempotency-key', 'cli-key-1'])).code).toBe(0);
    const again = await run([...withOption('--text', 'Different'), '--idempotency-key', 'cli-key-1']);
    expect(again.code).toBe(2);
    expect(JSON.parse(again.out[0]!).error).toMatchObject({ code: 'IDEMPOTENCY_CONFLICT', field: 'idempotencyKey' });
  });

  it('wrote one record (the valid idempotent send) and started one workflow, nothing for the refused ones', async () => {
    const { rows } = await env.pool.query(
      'SELECT count(*)::int AS n, (SELECT count(*)::int FROM mailer.email_attachments) AS a FROM mailer.emails',
    );
    expect(rows[0]).toEqual({ n: 1, a: 0 });
    // Visibility counts the started workflow a moment after the start.
    const count = await waitFor('visibility to count the started workflow', async () => {
      const n = (await env.client.temporal.workflow.count(`TaskQueue = '${env.config.temporal.taskQueue}'`)).count;
      return n >= 1 ? n : undefined;
    });
    expect(count).toBe(1);
  });
});
