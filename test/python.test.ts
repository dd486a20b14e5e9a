// From Python, for real: examples/python/send_order.py (psycopg 3) writes an
// order and calls mailer.send_email() in one transaction, then reads the
// email's status. Its virtualenv (.tools/py) is made here when missing.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { projectRoot } from '../dev/stack/index.ts';
import { createTestEnv, row, type TestEnv } from './helpers.ts';

const run = promisify(execFile);
const example = path.join(projectRoot, 'examples/python');
const venv = path.join(projectRoot, '.tools/py');
const python = path.join(venv, 'bin/python');

/** The example's virtualenv with its pinned requirements (PyPI), made once. */
async function ensureVenv(): Promise<void> {
  const ready =
    existsSync(python) &&
    (await run(python, ['-c', 'import psycopg']).then(
      () => true,
      () => false,
    ));
  if (ready) return;
  await run('python3', ['-m', 'venv', venv]);
  await run(
    path.join(venv, 'bin/pip'),
    ['install', '--quiet', '--disable-pip-version-check', '-r', path.join(example, 'requirements.txt')],
    { timeout: 300_000 },
  );
}

describe('from Python, with psycopg', () => {
  let env: TestEnv;
  beforeAll(async () => {
    // No sweep during the file: the relay starts what the notification announces.
    [env] = await Promise.all([createTestEnv({ MAILER_RELAY_SWEEP_INTERVAL: '1h' }), ensureVenv()]);
    await env.startWorker();
  }, 360_000);
  afterAll(() => env?.close());

  async function sendOrder(...args: string[]): Promise<{ code: number; out: Record<string, any> }> {
    const options = { env: { ...process.env, DATABASE_URL: env.config.databaseUrl }, timeout: 60_000 };
    try {
      const { stdout } = await run(python, [path.join(example, 'send_order.py'), ...args], options);
      return { code: 0, out: JSON.parse(stdout) };
    } catch (err) {
      const e = err as { code: number; stdout: string; stderr: string };
      if (!e.stdout) throw err;
      return { code: e.code, out: JSON.parse(e.stdout) };
    }
  }
  const orders = async (email: string) =>
    (await env.pool.query('SELECT id FROM public.orders WHERE email = $1', [email])).rowCount;
  const at = (address: string) => env.sink.messages.filter((m) => m.rcptTo.includes(address));

  it('a rolled-back transaction leaves neither the order nor the email; a committed one is delivered once', async () => {
    const rolledBack = await sendOrder('--to', 'py-rollback@example.com', '--rollback');
    expect(rolledBack).toMatchObject({ code: 0, out: { rolledBack: true } });
    const committed = await sendOrder('--to', 'py-commit@example.com', '--item', 'teapot');
    expect(committed).toMatchObject({ code: 0, out: { status: 'sent', lastError: null } });
    expect(at('py-commit@example.com')).toHaveLength(1);
    expect(at('py-commit@example.com')[0]!.raw.toString()).toContain('Order ');
    expect(await orders('py-commit@example.com')).toBe(1);
    // The relay has run since the rollback (it started the committed one): nothing of the rolled-back one exists.
    expect(await row(env, rolledBack.out.emailId as string)).toBeUndefined();
    expect(await orders('py-rollback@example.com')).toBe(0);
    expect(at('py-rollback@example.com')).toHaveLength(0);
  });

  it('a malformed message is refused at call time, naming the field, and the order is rolled back with it', async () => {
    const refused = await sendOrder(
      '--to',
      'py-malformed@example.com',
      '--message',
      JSON.stringify({ from: 'shop@acme.example', subject: 'x', text: 'y' }),
    );
    expect(refused).toEqual({
      code: 2,
      out: { error: { sqlstate: '22023', field: 'to', message: 'to: is required' } },
    });
    expect(await orders('py-malformed@example.com')).toBe(0);
  });

  it('a message the validator refuses ends rejected, with the field and the reason, and is never sent', async () => {
    const rejected = await sendOrder(
      '--to',
      'py-rejected@example.com',
      '--message',
      JSON.stringify({ from: 'shop@acme.example', to: 'py-rejected@[10.0.0.1]', subject: 'x', text: 'y' }),
    );
    expect(rejected).toMatchObject({
      code: 0,
      out: { status: 'rejected', lastError: expect.stringMatching(/^to: is not a valid email address/) },
    });
    // The order committed: the email is a record of what was refused, not a lost one.
    expect(await orders('py-rejected@example.com')).toBe(1);
    expect(env.sink.messages.filter((m) => m.raw.includes('py-rejected'))).toHaveLength(0);
  });
});
