// `mailer` by the command-line conventions: --help and -h for the whole tool
// and for each command (usage, options, examples; stdout, exit 0), --version,
// and exit 2 with the usage line for a missing or unknown command or option.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { COMMANDS, main } from '../src/cli/main.ts';

const bin = path.resolve(import.meta.dirname, '../bin/mailer.js');
const pkg = JSON.parse(readFileSync(path.resolve(import.meta.dirname, '../package.json'), 'utf8')) as {
  name: string;
  version: string;
};

/** The real command in a child process, with no service to reach: help must not need one. */
async function mailer(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const env = {
    ...process.env,
    DATABASE_URL: 'postgres://nobody:secret@127.0.0.1:1/none',
    TEMPORAL_ADDRESS: '127.0.0.1:1',
  };
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [bin, ...args], { env, timeout: 60_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

/** main() in this process, capturing what it prints. */
async function run(...argv: string[]) {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const code = await main(
    argv,
    (l) => stdout.push(l),
    (l) => stderr.push(l),
  );
  return { code, stdout: stdout.join('\n'), stderr: stderr.join('\n') };
}

describe('mailer help and version', () => {
  it('prints the version from package.json', async () => {
    const r = await mailer('--version');
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(r.stdout.trim()).toBe(`${pkg.name} ${pkg.version}`);
  });

  it('lists every command with --help, -h and help, on stdout', async () => {
    const r = await mailer('--help');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^usage: mailer <command> \[options\] \[--json\]/);
    for (const name of COMMANDS.keys())
      if (name !== 'resend-unsent') expect(r.stdout).toMatch(new RegExp(`^  ${name} `, 'm'));
    expect((await run('-h')).stdout).toBe(r.stdout.trimEnd());
    expect((await run('help')).stdout).toBe(r.stdout.trimEnd());
  });

  it('gives every command its usage, options and examples, by --help, -h or help <command>', async () => {
    for (const name of COMMANDS.keys()) {
      const r = await run(name, '--help');
      expect(r.code, name).toBe(0);
      expect(r.stdout, name).toMatch(new RegExp(`^usage: mailer ${name === 'resend-unsent' ? 'reconcile' : name}`));
      expect(r.stdout, name).toMatch(/\noptions:\n[\s\S]*--json[\s\S]*\nexamples:\n {2}\S/);
      expect((await run(name, '-h')).stdout, name).toBe(r.stdout);
      expect((await run('help', name)).stdout, name).toBe(r.stdout);
    }
    // Nothing ran: help never reaches the database or Temporal.
    const send = await mailer('send', '--help');
    expect(send.code).toBe(0);
    expect(send.stdout).toContain('--idempotency-key K');
    // After `--`, -h is an argument, not a request for help.
    expect((await run('status', '--', '-h')).stdout).not.toMatch(/^usage/);
  });

  it('exits 2 with the usage line for a missing or unknown command, or an unknown option', async () => {
    const none = await mailer();
    expect(none.code).toBe(2);
    expect(none.stdout).toBe('');
    expect(none.stderr).toMatch(/^usage: mailer <command>/);

    const unknown = await mailer('sned', '--to', 'x');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr.trim().split('\n')).toEqual([
      'error: command: unknown command "sned"',
      'usage: mailer <command> [options] [--json]  (mailer --help lists the commands)',
    ]);

    const option = await run('purge', '--dry-rnu');
    expect(option.code).toBe(2);
    expect(option.stderr.split('\n')).toEqual([
      "error: --dry-rnu: Unknown option '--dry-rnu'",
      'usage: mailer purge [--dry-run] [--json]  (mailer purge --help)',
    ]);

    // With --json, a program reads one error line and one object: no usage line.
    const scripted = await run('purge', '--dry-rnu', '--json');
    expect(scripted.stderr.split('\n')).toEqual(["error: --dry-rnu: Unknown option '--dry-rnu'"]);
    expect(JSON.parse(scripted.stdout).error).toMatchObject({ code: 'INVALID_INPUT', field: '--dry-rnu' });

    const missing = await run('resolve', '00000000-0000-4000-8000-000000000000');
    expect(missing.code).toBe(2);
    expect(missing.stderr.split('\n')[1]).toBe(
      'usage: mailer resolve ID --sent|--resend [--json]  (mailer resolve --help)',
    );
    expect((await run('help', 'sned')).code).toBe(2);
  });
});
