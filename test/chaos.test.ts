// The chaos run's smoke variant as a test: `scripts/chaos.ts --smoke --seed 7`
// in its own process, on its own private stack (it SIGKILLs its Temporal server
// and Postgres, so it never touches the suite's shared one), with one fault of
// each kind. The scoreboard it writes must be clean.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { projectRoot } from '../dev/stack/index.ts';
import type { ReceivedMessage } from '../dev/stack/smtp-sink.ts';
import { parseOptions, UsageError } from '../scripts/chaos/options.ts';
import { FAULT_KINDS, type PlannedEmail, planRun } from '../scripts/chaos/plan.ts';
import { type EmailOutcome, tally } from '../scripts/chaos/scoreboard.ts';

interface Scoreboard {
  pass: boolean;
  seed: number;
  submitted: number;
  sent: number;
  blocked: number;
  failed: number;
  cancelled: number;
  lost: number;
  missing: number;
  duplicatesOutsideWindow: number;
  mismatches: number;
  faults: Record<string, number>;
  portsReleased: boolean;
}

describe('chaos run (smoke)', () => {
  let dir: string | undefined;
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('every fault kind under load: nothing lost, nothing missing, no duplicate outside the uncertain window', async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'mailer-chaos-test-'));
    const out = path.join(dir, 'scoreboard.json');
    const { code, output } = await new Promise<{ code: number | string | null; output: string }>((resolve) => {
      execFile(
        process.execPath,
        ['--import', 'tsx', 'scripts/chaos.ts', '--smoke', '--seed', '7', '--out', out],
        { cwd: projectRoot, timeout: 380_000, maxBuffer: 64 * 2 ** 20 },
        (err, stdout, stderr) =>
          resolve({ code: err ? (err.code ?? err.signal ?? 1) : 0, output: `${stdout}\n${stderr}` }),
      );
    });
    expect(code, output.slice(-6000)).toBe(0);

    const score = JSON.parse(await readFile(out, 'utf8')) as Scoreboard;
    expect(score.seed).toBe(7);
    expect(score.pass).toBe(true);
    expect(score.lost).toBe(0);
    expect(score.missing).toBe(0);
    expect(score.duplicatesOutsideWindow).toBe(0);
    expect(score.mismatches).toBe(0);
    expect(score.submitted).toBeGreaterThan(0);
    expect(score.submitted).toBe(score.sent + score.blocked + score.failed + score.cancelled);
    for (const kind of FAULT_KINDS) expect(score.faults[kind], `fault ${kind}`).toBeGreaterThanOrEqual(1);
    expect(score.portsReleased).toBe(true);
  }, 400_000);
});

// The verdict and the command line on their own (pure logic): importing the
// parts starts nothing and exits nothing.
describe('chaos run parts', () => {
  it('refuses a bad option with a UsageError naming it, and plans the same run for the same seed', () => {
    expect(() => parseOptions(['--emails', '0'])).toThrow(UsageError);
    expect(() => parseOptions(['--emails', '0'])).toThrow(/^--emails: "0" is not a whole number/);
    expect(() => parseOptions(['--settle', 'soon'])).toThrow(/^--settle: /);
    expect(() => parseOptions(['--duration', '500ms'])).toThrow('--duration: at least 1s');
    expect(() => parseOptions(['--bogus'])).toThrow(UsageError);
    expect(parseOptions(['--help'])).toEqual({ help: true });

    const smoke = parseOptions(['--smoke', '--seed', '7']);
    if (smoke.help) throw new Error('not help');
    expect(smoke.options).toMatchObject({
      emails: 40,
      durationMs: 15_000,
      seed: 7,
      workers: 2,
      settleMs: 180_000,
      smoke: true,
    });
    const plan = planRun(smoke.options);
    expect(planRun(smoke.options)).toEqual(plan);
    expect(plan.faults.map((f) => f.kind).sort()).toEqual([...FAULT_KINDS].sort());
    expect(plan.emails).toHaveLength(40);
    for (const kind of ['scheduled', 'blocked', 'rejected', 'cancelled'])
      expect(
        plan.emails.some((e) => e.kind === kind),
        kind,
      ).toBe(true);
  });

  it('judges each email by its record and the copies the sink received', () => {
    let seq = 0;
    const copy = (id: string): ReceivedMessage => ({
      seq: ++seq,
      mailFrom: 'a@x',
      rcptTo: ['b@x'],
      receivedAt: '',
      raw: Buffer.from(`Subject: s\r\nMessage-ID: <${id}@x>\r\n\r\nbody`),
    });
    const email = (i: number, kind: PlannedEmail['kind']): PlannedEmail => ({
      i,
      kind,
      key: `k${i}`,
      to: 't',
      atMs: 0,
      id: `e${i}`,
    });
    const record = (i: number, status: string, possiblyDelivered = false): EmailOutcome => ({
      id: `e${i}`,
      status,
      possibly_delivered: possiblyDelivered,
      uncertain_resends: 0,
      attempts: 1,
      message_id: `<e${i}@x>`,
    });
    const submitted = [
      email(0, 'normal'),
      email(1, 'normal'),
      email(2, 'normal'),
      email(3, 'normal'),
      email(4, 'blocked'),
      email(5, 'cancelled'),
      email(6, 'normal'),
      email(7, 'rejected'),
    ];
    const rows = [
      record(0, 'sent'),
      record(1, 'sent', true),
      record(2, 'sent'),
      record(3, 'sent'),
      record(4, 'blocked'),
      record(5, 'sent'),
      record(6, 'sending'),
      record(7, 'sent'),
    ];
    const received = [
      copy('e0'),
      copy('e1'),
      copy('e1'),
      copy('e2'),
      copy('e2'),
      copy('e4'),
      copy('e5'),
      copy('e7'),
      copy('stranger'),
    ];
    const t = tally(submitted, rows, received);
    expect(t.count).toEqual({ sent: 6, blocked: 1, failed: 0, cancelled: 0, lost: 1 });
    expect(t).toMatchObject({
      duplicates: 2,
      duplicatesInWindow: 1,
      missing: 1,
      cancelRaceWonBySend: 1,
      unknownMessages: 1,
      possiblyDelivered: 1,
    });
    expect(t.mismatches).toBe(2); // e4: blocked but received; e7: rejected kind but sent
    expect(t.bad.map((b) => `${b.id} ${b.problem}`).sort()).toEqual([
      'e2 duplicate outside the uncertain window: 2 copies',
      'e3 missing: recorded sent, never received',
      'e4 recorded blocked but received 1 time(s)',
      'e6 lost: still sending',
      'e7 expected failed, got sent',
    ]);
  });
});
