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

const FAULT_KINDS = ['worker-sigkill', 'worker-sigterm', 'temporal-kill', 'postgres-kill', 'smtp-down', 'smtp-slow'];

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
        (err, stdout, stderr) => resolve({ code: err ? (err.code ?? err.signal ?? 1) : 0, output: `${stdout}\n${stderr}` }),
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
