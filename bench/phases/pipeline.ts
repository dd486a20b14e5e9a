// Phase 3, the full pipeline at saturation: Mailer.send() with many calls in
// flight → the real worker in a child process → sent. Throughput, history
// events, CPU per email over every process, and peak memory.
import { workflowIdFor } from '../../src/email/store.ts';
import { spawnChild } from '../children.ts';
import { type BenchContext, log } from '../context.ts';
import {
  closeTimes,
  cpuResult,
  dbNow,
  historySample,
  roundDistribution,
  statusCounts,
  submitClosedLoop,
  waitForClosed,
  waitForSent,
} from '../measure.ts';
import { persistencePerEmail, persistenceSnapshot } from '../persistence.ts';
import { cpuSnapshot, memoryOf, treeRss } from '../proc.ts';
import type { PipelineResult } from '../results.ts';
import { distribution, type Distribution, perSecond, round } from '../stats.ts';

export async function pipelinePhase(ctx: BenchContext): Promise<PipelineResult> {
  const { options, results, runId, temporal, db, receipts, workerEnv, mailerFor } = ctx;
  const n = options.emails;
  const taskQueue = `bench-pipeline-${runId}`;
  log(
    `pipeline: ${n} emails, Mailer.send() with ${options.concurrency} in flight → the real worker (a child process) on "${taskQueue}"…`,
  );
  const child = await spawnChild('pipeline worker', 'pipeline', workerEnv(taskQueue));
  const mailer = await mailerFor(taskQueue);
  let keep = false;
  try {
    const since = await dbNow(db);
    const postgresPid = cpuSnapshot([]).pids.postgres;
    let postgresMaxRss = 0;
    const sampler = setInterval(() => {
      if (postgresPid) postgresMaxRss = Math.max(postgresMaxRss, treeRss(postgresPid));
    }, 1000);
    const cpuBefore = cpuSnapshot([child.pid]);
    const persistedBefore = await persistenceSnapshot(db, cpuBefore.pids.temporal);
    const { records, firstCall } = await submitClosedLoop(mailer, 'pipeline', n, options.concurrency);
    const lastReturn = Math.max(...records.map((r) => r.returnedAt));
    const lastSent = await waitForSent(db, since, n, 'pipeline');
    const cpuAfter = cpuSnapshot([child.pid]);
    const persistedAfter = await persistenceSnapshot(db, cpuAfter.pids.temporal);
    clearInterval(sampler);
    const elapsedSeconds = (lastSent - firstCall) / 1000;
    const query = `TaskQueue = "${taskQueue}" AND ExecutionStatus = "Completed"`;
    let allClosedSeconds: number | undefined;
    let workflowMs: Distribution | undefined;
    try {
      if ((await waitForClosed(temporal, taskQueue, n, 'pipeline', results.notes)) < n)
        throw new Error('not every workflow completed');
      const closed = await closeTimes(temporal, query);
      allClosedSeconds = round((closed.last - firstCall) / 1000, 3);
      workflowMs = roundDistribution(distribution(closed.durationsMs));
    } catch (err) {
      results.notes.push(`pipeline: could not confirm every workflow closed: ${(err as Error).message}`);
    }
    const statuses = await statusCounts(db, since);
    const historyEvents = await historySample(
      temporal,
      records.map((r) => workflowIdFor(r.id)),
      options.historySamples,
    );
    const smtp = results.phases.smtp;
    const engine = results.phases.engine;
    const work = results.phases.work;
    const perSecondRate = n / elapsedSeconds;
    const receivedTimes = records.map((r) => receipts.get(r.id)).filter((t): t is number => t !== undefined);
    const temporalPid = cpuAfter.pids.temporal;
    const cpu = cpuResult(cpuBefore, cpuAfter, n);
    const result: PipelineResult = {
      emails: n,
      submitConcurrency: options.concurrency,
      submitSeconds: round((lastReturn - firstCall) / 1000, 3),
      submitPerSecond: round(n / ((lastReturn - firstCall) / 1000), 1),
      elapsedSeconds: round(elapsedSeconds, 3),
      perSecond: round(perSecondRate, 1),
      allClosedSeconds,
      workflowMs,
      ratioToSmtp: smtp ? round(perSecondRate / smtp.perSecond, 3) : undefined,
      ratioToEngine: engine ? round(perSecondRate / engine.perSecond, 3) : undefined,
      ratioToWork: work
        ? {
            throughput: round(perSecondRate / work.perSecond, 3),
            cpu: round(cpu.perItemMs.total! / work.cpu.perItemMs.total!, 2),
          }
        : undefined,
      sendMs: roundDistribution(distribution(records.map((r) => r.returnedAt - r.calledAt))),
      statuses,
      historyEvents,
      cpu,
      persistence: persistencePerEmail(persistedBefore, persistedAfter, n),
      memory: {
        workerPeakRssBytes: memoryOf(child.pid)?.peak,
        temporalPeakRssBytes: temporalPid ? memoryOf(temporalPid)?.peak : undefined,
        postgresMaxTreeRssBytes: postgresMaxRss || undefined,
        benchPeakRssBytes: memoryOf(process.pid)?.peak ?? process.memoryUsage().rss,
      },
      receivedPerSecond: perSecond(receivedTimes, firstCall, Math.ceil(elapsedSeconds) + 1),
    };
    if (engine && engine.historyEvents.mean !== historyEvents.mean) {
      results.notes.push(
        `The engine floor's workflows have ${engine.historyEvents.mean} history events on average, the pipeline's ${historyEvents.mean}: some emails took a longer path than the common one (a retry, a lost task), so the two are not quite comparable.`,
      );
      log(`warning: ${results.notes.at(-1)}`);
    }
    log(
      `pipeline: ${result.perSecond} emails/s (send() alone ${result.submitPerSecond}/s), ${historyEvents.mean} events and ${result.cpu.perItemMs.total} CPU ms per email`,
    );
    if (options.phases.includes('latency')) {
      ctx.warmWorker = { child, mailer, taskQueue };
      keep = true;
    }
    return result;
  } finally {
    if (!keep) await child.stop();
  }
}
