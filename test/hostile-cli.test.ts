// `mailer` against hostile arguments and a hostile file system: every case ends
// with a documented exit code (2 bad input, 3 bad configuration, 1 failed) and
// one line naming the field, promptly, with nothing written for a refusal.
// Most run the command's code in-process; the ones about the process itself
// (a FIFO, /dev/zero, an unreachable database) run the real binary.
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, symlink, truncate, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../src/cli/main.ts';
import { createTestEnv, runMailer, type TestEnv, waitFor } from './helpers.ts';

const exec = promisify(execFile);
const OK = ['--from', 'app@acme.example', '--to', 'ann@example.com', '--subject', 'Hi', '--text', 'Hello'];
let dir: string;
// Paths under the test's folder, known once it exists.
const at = (name: string) => path.join(dir, name);

const CASES: [string, string[], number, string, RegExp?][] = [
  // --attach: regular files only, the size known before reading
  ['--attach /dev/zero (never ends)', ['send', ...OK, '--attach', '/dev/zero'], 2, '--attach', /character device/],
  ['--attach a FIFO (would block forever)', ['send', ...OK, '--attach', 'FIFO'], 2, '--attach', /is a FIFO/],
  [
    '--attach a link to a FIFO, naming the target',
    ['send', ...OK, '--attach', 'LINK_TO_FIFO'],
    2,
    '--attach',
    /a link to .*fifo\) is a FIFO/,
  ],
  [
    '--attach a 64 MiB file, refused before reading',
    ['send', ...OK, '--attach', 'SPARSE'],
    2,
    '--attach',
    /is 67108864 bytes, over the 10 MiB attachment limit/,
  ],
  ['--attach a directory', ['send', ...OK, '--attach', 'DIR'], 2, '--attach', /is a directory/],
  ['--attach a file that does not exist', ['send', ...OK, '--attach', '/nonexistent/x.pdf'], 2, '--attach', /ENOENT/],
  [
    '--attach 21 files',
    ['send', ...OK, ...Array.from({ length: 21 }, () => ['--attach', 'SMALL']).flat()],
    2,
    '--attach',
    /at most 20/,
  ],
  // send options the library refuses
  [
    '--header given twice in different case',
    ['send', ...OK, '--header', 'X-Tag: a', '--header', 'x-tag: b'],
    2,
    '--header',
    /given twice/,
  ],
  ['--send-at in year 9999', ['send', ...OK, '--send-at', '9999-01-01T00:00:00Z'], 2, 'sendAt', /366 days/],
  ['--send-at in year 0', ['send', ...OK, '--send-at', '0000-01-01T00:00:00Z'], 2, 'sendAt', /before 1970/],
  [
    '--subject with a right-to-left override',
    ['send', ...OK, '--subject', 'Invoice \u202Etxt.exe'],
    2,
    'subject',
    /bidirectional/,
  ],
  [
    '--subject with an encoded word',
    ['send', ...OK, '--subject', '=?utf-8?q?a=0D=0ABcc:_x@evil.example?='],
    2,
    'subject',
    /encoded word/,
  ],
  ['--text with a bare CR', ['send', ...OK, '--text', 'a\rb'], 2, 'text', /bare CR/],
  [
    'a second --to of 254 characters',
    ['send', ...OK, '--to', `${'a'.repeat(64)}@${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(57)}.com`],
    2,
    'to[1]',
    /253/,
  ],
  // commands looked up through the prototype
  ['the command "constructor"', ['constructor'], 2, 'command', /unknown command/],
  ['the command "__proto__"', ['__proto__'], 2, 'command', /unknown command/],
  ['the command "hasOwnProperty"', ['hasOwnProperty'], 2, 'command', /unknown command/],
  ['the command "toString"', ['toString'], 2, 'command', /unknown command/],
  // values Postgres would refuse with a raw error
  [
    'limits set with a count past any integer',
    ['limits', 'set', '--per-recipient', '99999999999/60m'],
    2,
    '--per-recipient',
    /must be between 1 and 1000000/,
  ],
  [
    'limits set with a window past any interval',
    ['limits', 'set', '--per-recipient', '10/99999999999h'],
    2,
    '--per-recipient',
    /365 days/,
  ],
  ['retry with a non-UUID', ['retry', 'not-a-uuid'], 2, 'id', /UUID/],
  ['retry with SQL in the id', ['retry', "x'; DROP TABLE mailer.emails; --"], 2, 'id', /UUID/],
  ['status with a non-UUID', ['status', '12345'], 2, 'id', /UUID/],
  ['cancel with a non-UUID', ['cancel', '../../etc/passwd'], 2, 'id', /UUID/],
  ['resolve with a non-UUID', ['resolve', 'nope', '--sent'], 2, 'id', /UUID/],
  ['lost --older-than 99999999999999h', ['lost', '--older-than', '99999999999999h'], 2, '--older-than', /3650 days/],
  ['stuck --older-than 99999999999999h', ['stuck', '--older-than', '99999999999999h'], 2, '--older-than', /3650 days/],
  [
    'reconcile --older-than 1e9h',
    ['reconcile', '--dry-run', '--older-than', '1e9h'],
    2,
    '--older-than',
    /not a duration/,
  ],
  [
    'rules add with a 300-character pattern',
    ['rules', 'add', 'deny', `@${'a'.repeat(290)}.example`],
    2,
    'PATTERN',
    /254/,
  ],
  ['list --status __proto__', ['list', '--status', '__proto__'], 2, '--status', /must be one of/],
  [
    'a terminal escape sequence in an option value',
    ['lost', '--older-than', '\x1b]0;owned\x07\x1b[2J'],
    2,
    '--older-than',
    /not a duration/,
  ],
  ['list --limit 99999999999', ['list', '--limit', '99999999999'], 2, '--limit', /whole number from 1 to 10000/],
];

describe('mailer: hostile arguments', () => {
  let env: TestEnv;
  beforeAll(async () => {
    env = await createTestEnv();
    Object.assign(process.env, {
      DATABASE_URL: env.config.databaseUrl,
      TEMPORAL_ADDRESS: env.config.temporal.address,
      TEMPORAL_NAMESPACE: env.config.temporal.namespace,
      TEMPORAL_TASK_QUEUE: env.config.temporal.taskQueue,
    });
    dir = await mkdtemp(path.join(os.tmpdir(), 'mailer-hostile-cli-'));
    await exec('mkfifo', [at('fifo')]);
    await symlink(at('fifo'), at('link-to-fifo'));
    await writeFile(at('sparse.bin'), '');
    await truncate(at('sparse.bin'), 64 * 1024 * 1024);
    await mkdir(at('dir'));
    await writeFile(at('small.txt'), 'small');
    await writeFile(at('report-2026.csv'), 'a,b\n1,2\n');
    await symlink(at('report-2026.csv'), at('report.csv'));
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
    await env?.close();
  });

  async function run(args: string[]) {
    const out: string[] = [];
    const err: string[] = [];
    const names: Record<string, string> = {
      FIFO: at('fifo'),
      LINK_TO_FIFO: at('link-to-fifo'),
      SPARSE: at('sparse.bin'),
      DIR: at('dir'),
      SMALL: at('small.txt'),
    };
    const code = await main(
      [...args.map((a) => (Object.hasOwn(names, a) ? names[a]! : a)), '--json'],
      (l) => out.push(l),
      (l) => err.push(l),
    );
    return { code, out, err };
  }

  it.each(CASES)('%s', async (_name, args, exitCode, field, reason) => {
    const { code, out, err } = await run(args);
    expect(code).toBe(exitCode);
    expect(err).toHaveLength(1);
    expect(err[0]).toMatch(new RegExp(`^error: ${field.replace(/[[\].]/g, '\\$&')}: \\S`));
    expect(err[0]).not.toMatch(/[\x00-\x1f\x7f]/);
    const error = JSON.parse(out.at(-1)!).error;
    expect(error).toMatchObject({ code: 'INVALID_INPUT', field });
    if (reason) expect(error.message).toMatch(reason);
  });

  it('attaches a file through a symlink under the name given, and reports the file it read', async () => {
    const { code, out } = await run(['send', ...OK, '--attach', at('report.csv')]);
    expect(code).toBe(0);
    const sent = JSON.parse(out[0]!);
    expect(sent.attachments).toEqual([{ filename: 'report.csv', path: at('report-2026.csv'), size: 8 }]);
    const { rows } = await env.pool.query(
      'SELECT filename, content FROM mailer.email_attachments WHERE email_id = $1',
      [sent.id],
    );
    expect(rows).toEqual([{ filename: 'report.csv', content: Buffer.from('a,b\n1,2\n') }]);
  });

  it('attaches a file whose stated size is 0 (/proc) whole', async () => {
    const { code, out } = await run(['send', ...OK, '--attach', '/proc/self/status']);
    expect(code).toBe(0);
    const { rows } = await env.pool.query('SELECT content FROM mailer.email_attachments WHERE email_id = $1', [
      JSON.parse(out[0]!).id,
    ]);
    expect(rows[0].content.toString()).toMatch(/^Name:/);
  });

  it('wrote only the two accepted emails and started only their workflows', async () => {
    const { rows } = await env.pool.query<{ workflow_id: string }>('SELECT workflow_id FROM mailer.emails');
    expect(rows).toHaveLength(2);
    const { rows: limits } = await env.pool.query('SELECT count(*)::int AS n FROM mailer.recipient_limits');
    expect(limits[0].n).toBe(0);
    // Each stored email's workflow exists (describe reads the truth, not visibility)…
    for (const { workflow_id } of rows) await env.client.temporal.workflow.getHandle(workflow_id).describe();
    // …and visibility, which trails a start, lists no other once it has caught up with these two.
    const query = `TaskQueue = '${env.config.temporal.taskQueue}'`;
    await waitFor(
      'visibility to list both workflows',
      async () => (await env.client.temporal.workflow.count(query)).count >= 2,
    );
    expect((await env.client.temporal.workflow.count(query)).count).toBe(2);
  });

  it('the real binary: a FIFO and /dev/zero end promptly with exit 2', async () => {
    for (const file of [at('fifo'), '/dev/zero']) {
      const started = Date.now();
      const result = await runMailer(env, 'send', ...OK, '--attach', file);
      expect(result.code).toBe(2);
      expect(result.json.error.field).toBe('--attach');
      expect(Date.now() - started).toBeLessThan(30_000);
    }
  });

  it('the real binary: bad configuration exits 3 naming the variable; an unreachable database exits 1, wrapped, password not shown', async () => {
    const bin = path.join(import.meta.dirname, '../bin/mailer.js');
    const attempt = (DATABASE_URL: string) =>
      exec(process.execPath, [bin, 'list', '--json'], { env: { ...process.env, DATABASE_URL }, timeout: 60_000 }).then(
        () => ({ code: 0, stdout: '', stderr: '' }),
        (e: { code: number; stdout: string; stderr: string }) => e,
      );
    const config = await attempt('mysql://u:p@127.0.0.1/db');
    expect(config.code).toBe(3);
    expect(JSON.parse(config.stdout).error).toMatchObject({ code: 'CONFIG', field: 'DATABASE_URL' });
    const down = await attempt('postgres://u:pg-secret-9@127.0.0.1:1/db');
    expect(down.code).toBe(1);
    expect(JSON.parse(down.stdout).error).toMatchObject({
      code: 'OPERATION_FAILED',
      message: expect.stringMatching(/^operation failed: cannot connect to 127\.0\.0\.1:1 \(ECONNREFUSED\)$/),
    });
    expect(down.stderr.trim().split('\n')).toHaveLength(1);
    expect(down.stdout + down.stderr).not.toContain('pg-secret-9');
  });
});
