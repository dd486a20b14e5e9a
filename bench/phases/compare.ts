// Before/after in one run: the pipeline at saturation with the worker of a
// git revision (--baseline) and with the working tree's, alternating which
// goes first in each round (A B, B A, A B …) so that a machine getting slower
// or faster during the run favours neither. Each run is a fresh worker process
// on its own task queue; send() is the working tree's for both. Medians, and
// current ÷ baseline. Only a comparison within one run on one machine means
// anything: the same machine's figures move by up to 2× from hour to hour.
import { execFile } from 'node:child_process';
import { mkdir, symlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { bundleWorkflowCode, DefaultLogger } from '@temporalio/worker';
import { writeFile } from 'node:fs/promises';
import { workflowIdFor } from '../../src/email/store.ts';
import { projectRoot } from '../../dev/stack/index.ts';
import { spawnChild } from '../children.ts';
import { type BenchContext, log } from '../context.ts';
import { cpuResult, dbNow, historySample, submitClosedLoop, waitForSent } from '../measure.ts';
import { persistencePerEmail, persistenceSnapshot } from '../persistence.ts';
import { cpuSnapshot } from '../proc.ts';
import type { CompareResult, CompareRun } from '../results.ts';
import { round } from '../stats.ts';

const exec = promisify(execFile);

/** The baseline's tree, exported from git into `dir` with this project's node_modules, and its workflow bundle. */
async function exportBaseline(rev: string, dir: string): Promise<{ root: string; commit: string; bundlePath: string }> {
  const commit = (await exec('git', ['-C', projectRoot, 'rev-parse', '--verify', `${rev}^{commit}`])).stdout.trim();
  const root = path.join(dir, `baseline-${commit.slice(0, 10)}`);
  await mkdir(root, { recursive: true });
  await exec('sh', ['-c', `git -C "${projectRoot}" archive "${commit}" | tar -x -C "${root}"`]);
  await symlink(path.join(projectRoot, 'node_modules'), path.join(root, 'node_modules'));
  const bundle = await bundleWorkflowCode({
    workflowsPath: path.join(root, 'src', 'workflows', 'index.ts'),
    logger: new DefaultLogger('WARN'),
  });
  const bundlePath = path.join(dir, `baseline-${commit.slice(0, 10)}-bundle.js`);
  await writeFile(bundlePath, bundle.code);
  return { root, commit, bundlePath };
}

const median = (values: number[]) => {
  const s = [...values].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

export async function comparePhase(ctx: BenchContext, dataDir: string): Promise<CompareResult> {
  const { options, runId, temporal, db, workerEnv, mailerFor, realBundlePath } = ctx;
  const baseline = await exportBaseline(options.baseline!, dataDir);
  const currentCommit = (await exec('git', ['-C', projectRoot, 'rev-parse', 'HEAD'])).stdout.trim();
  const dirty =
    (await exec('git', ['-C', projectRoot, 'status', '--porcelain', '--', 'src', 'bench'])).stdout.trim() !== '';
  log(
    `compare: baseline ${options.baseline} (${baseline.commit.slice(0, 10)}) vs the working tree (${currentCommit.slice(0, 10)}${dirty ? ', with uncommitted changes' : ''}), ${options.rounds} round(s) of ${options.emails} emails each…`,
  );
  const sides = {
    baseline: { root: baseline.root, bundle: baseline.bundlePath, env: options.baselineEnv },
    current: { root: undefined, bundle: realBundlePath, env: options.currentEnv },
  };
  const runsOut: CompareRun[] = [];
  for (let round_ = 1; round_ <= options.rounds; round_++) {
    const order = round_ % 2 ? (['baseline', 'current'] as const) : (['current', 'baseline'] as const);
    for (const side of order) {
      const { root, bundle, env } = sides[side];
      const taskQueue = `bench-compare-${side}-${round_}-${runId}`;
      const child = await spawnChild(
        `${side} worker`,
        'pipeline',
        { ...workerEnv(taskQueue, env), BENCH_BUNDLE: bundle },
        root,
      );
      try {
        const mailer = await mailerFor(taskQueue);
        const since = await dbNow(db);
        const load1 = os.loadavg()[0]!;
        const cpuBefore = cpuSnapshot([child.pid]);
        const persistedBefore = await persistenceSnapshot(db, cpuBefore.pids.temporal);
        const { records, firstCall } = await submitClosedLoop(
          mailer,
          `compare-${side}`,
          options.emails,
          options.concurrency,
        );
        const lastSent = await waitForSent(db, since, options.emails, `compare ${side}`);
        const cpuAfter = cpuSnapshot([child.pid]);
        const cpu = cpuResult(cpuBefore, cpuAfter, options.emails);
        const persistence = persistencePerEmail(
          persistedBefore,
          await persistenceSnapshot(db, cpuAfter.pids.temporal),
          options.emails,
        );
        const history = await historySample(
          temporal,
          records.map((r) => workflowIdFor(r.id)),
          options.historySamples,
        );
        const run: CompareRun = {
          side,
          round: round_,
          emails: options.emails,
          perSecond: round(options.emails / ((lastSent - firstCall) / 1000), 1),
          cpuPerEmailMs: cpu.perItemMs,
          persistence,
          historyEvents: history.mean,
          actions: history.actions.mean,
          load1: round(load1, 2),
        };
        runsOut.push(run);
        log(
          `compare: round ${round_} ${side}: ${run.perSecond} emails/s, ${cpu.perItemMs.total} CPU ms per email (worker ${cpu.perItemMs.worker}, Temporal ${cpu.perItemMs.temporal}), ${run.historyEvents} events, ${run.actions} Actions; load ${run.load1}`,
        );
      } finally {
        await child.stop();
      }
    }
  }
  const summarize = (side: 'baseline' | 'current') => {
    const mine = runsOut.filter((r) => r.side === side);
    const m = (f: (r: CompareRun) => number) => round(median(mine.map(f)), 2);
    return {
      perSecond: m((r) => r.perSecond),
      cpuTotal: m((r) => r.cpuPerEmailMs.total!),
      cpuEngine: m((r) => r.cpuPerEmailMs.worker! + r.cpuPerEmailMs.temporal!),
      cpuWorker: m((r) => r.cpuPerEmailMs.worker!),
      cpuTemporal: m((r) => r.cpuPerEmailMs.temporal!),
      events: m((r) => r.historyEvents),
      actions: m((r) => r.actions),
    };
  };
  const b = summarize('baseline');
  const c = summarize('current');
  return {
    baseline: options.baseline!,
    baselineCommit: baseline.commit,
    currentCommit: `${currentCommit}${dirty ? ' (with uncommitted changes)' : ''}`,
    baselineEnv: options.baselineEnv,
    currentEnv: options.currentEnv,
    runs: runsOut,
    summary: {
      baseline: b,
      current: c,
      ratio: {
        perSecond: round(c.perSecond / b.perSecond, 3),
        cpuTotal: round(c.cpuTotal / b.cpuTotal, 3),
        cpuEngine: round(c.cpuEngine / b.cpuEngine, 3),
      },
    },
  };
}
