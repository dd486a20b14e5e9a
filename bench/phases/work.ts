// The work floor: the pipeline's own work with no engine. A child process
// runs send()'s insert and blockCheck → prepare → deliver in-process
// (bench/work-loop.ts) on the same stack, at the pipeline's concurrency.
// Throughput and CPU per email over every process, measured as the pipeline
// is: the pipeline's figures divided by these are what the engine costs.
import { spawnChild } from '../children.ts';
import { type BenchContext, log } from '../context.ts';
import { cpuResult, dbNow, statusCounts, waitForSent } from '../measure.ts';
import { persistencePerEmail, persistenceSnapshot } from '../persistence.ts';
import { cpuSnapshot } from '../proc.ts';
import type { WorkResult } from '../results.ts';
import { round } from '../stats.ts';

export async function workPhase(ctx: BenchContext): Promise<WorkResult> {
  const { options, results, runId, db, workerEnv } = ctx;
  const n = options.emails;
  log(
    `work: ${n} emails through send()'s insert, blockCheck, prepare and deliver in-process (no Temporal), ${options.concurrency} in flight…`,
  );
  const child = await spawnChild('work-floor process', 'work', {
    ...workerEnv(`bench-work-${runId}`),
    BENCH_WORK_EMAILS: String(n),
    BENCH_WORK_CONCURRENCY: String(options.concurrency),
  });
  try {
    const since = await dbNow(db);
    const cpuBefore = cpuSnapshot([child.pid]);
    const persistedBefore = await persistenceSnapshot(db, cpuBefore.pids.temporal);
    child.tell({ type: 'go' });
    const done = await child.waitFor('work-done', 600_000);
    if (done.failed) results.notes.push(`work: ${done.failed} of ${n} emails failed (first: ${done.firstError})`);
    const lastSent = await waitForSent(db, since, done.sent, 'work');
    const cpuAfter = cpuSnapshot([child.pid]);
    const persistedAfter = await persistenceSnapshot(db, cpuAfter.pids.temporal);
    const elapsedSeconds = (lastSent - done.startedAt) / 1000;
    const result: WorkResult = {
      emails: n,
      sent: done.sent,
      failed: done.failed,
      concurrency: options.concurrency,
      elapsedSeconds: round(elapsedSeconds, 3),
      perSecond: round(done.sent / elapsedSeconds, 1),
      statuses: await statusCounts(db, since),
      cpu: cpuResult(cpuBefore, cpuAfter, Math.max(1, done.sent)),
      persistence: persistencePerEmail(persistedBefore, persistedAfter, done.sent),
    };
    log(`work: ${result.perSecond} emails/s, ${result.cpu.perItemMs.total} CPU ms per email`);
    return result;
  } finally {
    await child.stop();
  }
}
