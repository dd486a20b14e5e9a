// Phase 2, the engine floor: workflows whose activities return at once, run by
// workers shaped like startWorker's (bench/worker-child.ts, mode floor).
//   engine          the real sendEmail (the worker's own bundle): the pipeline minus its I/O;
//   engine-minimal  one no-op activity and nothing else (bench/workflows.ts);
//   engine-regular  the shape before the fast path (bench/workflows.ts).
import { randomUUID } from 'node:crypto';
import { loadConfig } from '../../src/config.ts';
import { startEmailWorkflow } from '../../src/email/start.ts';
import { workflowIdFor } from '../../src/email/store.ts';
import { EmailStatus } from '../../src/search-attributes.ts';
import { stackEnv } from '../../dev/stack/index.ts';
import { spawnChild } from '../children.ts';
import { type BenchContext, log } from '../context.ts';
import { closeTimes, cpuResult, historySample, roundDistribution, waitForClosed } from '../measure.ts';
import { cpuSnapshot } from '../proc.ts';
import type { EngineResult } from '../results.ts';
import { distribution, round } from '../stats.ts';

export async function enginePhase(
  ctx: BenchContext,
  phase: 'engine' | 'engine-regular' | 'engine-minimal',
  workflowType: 'sendEmail' | 'floorEmailRegular' | 'minimalWorkflow',
): Promise<EngineResult> {
  const { options, runId, info, temporal, baseEnv, realBundlePath, floorBundlePath } = ctx;
  const n = options.emails;
  const taskQueue = `bench-${phase}-${runId}`;
  const shape = {
    sendEmail: 'sendEmail workflows (the real one) with no-op activities',
    floorEmailRegular:
      'empty sendEmail-shaped workflows (3 regular no-op activities, 2 upserts: the shape before the fast path)',
    minimalWorkflow: 'minimal workflows (1 no-op activity on the same queue, nothing else)',
  }[workflowType];
  log(`${phase}: ${n} ${shape} on "${taskQueue}", ${options.concurrency} starts in flight…`);
  const bundle = workflowType === 'sendEmail' ? realBundlePath : floorBundlePath;
  const child = await spawnChild('engine-floor worker', 'floor', {
    ...baseEnv,
    TEMPORAL_TASK_QUEUE: taskQueue,
    BENCH_BUNDLE: bundle,
  });
  const floorConfig = loadConfig({ ...stackEnv(info), TEMPORAL_TASK_QUEUE: taskQueue });
  try {
    const cpuBefore = cpuSnapshot([child.pid]);
    const started = Date.now();
    const ids: string[] = [];
    let next = 0;
    await Promise.all(
      Array.from({ length: options.concurrency }, async () => {
        for (let i = next++; i < n; i = next++) {
          const emailId = randomUUID();
          if (workflowType === 'sendEmail') {
            // Started the one way the product starts it.
            ids[i] = workflowIdFor(emailId);
            if (!(await startEmailWorkflow(temporal, floorConfig, emailId)))
              throw new Error(`${phase}: Temporal did not accept workflow ${ids[i]}`);
            continue;
          }
          const workflowId = `floor-${emailId}`;
          ids[i] = workflowId;
          if (workflowType === 'minimalWorkflow') {
            await temporal.workflow.start(workflowType, { taskQueue, workflowId, args: [{ emailId }] });
            continue;
          }
          // The start options of startEmailWorkflow (src/email/start.ts).
          await temporal.workflow.start(workflowType, {
            taskQueue,
            workflowId,
            args: [{ emailId }],
            workflowIdConflictPolicy: 'USE_EXISTING',
            workflowIdReusePolicy: 'ALLOW_DUPLICATE_FAILED_ONLY',
            typedSearchAttributes: [{ key: EmailStatus, value: 'queued' }],
            staticSummary: `Email ${emailId}`,
            staticDetails: 'Send now',
          });
        }
      }),
    );
    const startSeconds = (Date.now() - started) / 1000;
    const query = `TaskQueue = "${taskQueue}" AND ExecutionStatus = "Completed"`;
    log(`${phase}: ${n} started in ${startSeconds.toFixed(1)} s; waiting for them to complete…`);
    const completed = await waitForClosed(temporal, taskQueue, n, phase, ctx.results.notes);
    const cpuAfter = cpuSnapshot([child.pid]);
    const closed = await closeTimes(temporal, query);
    const lastClose = closed.last;
    const elapsedSeconds = (lastClose - started) / 1000;
    const historyEvents = await historySample(temporal, ids, options.historySamples);
    const result: EngineResult = {
      workflowType,
      workflows: n,
      completed,
      submitConcurrency: options.concurrency,
      elapsedSeconds: round(elapsedSeconds, 3),
      perSecond: round(completed / elapsedSeconds, 1),
      startSeconds: round(startSeconds, 3),
      historyEvents,
      workflowMs: roundDistribution(distribution(closed.durationsMs)),
      cpu: cpuResult(cpuBefore, cpuAfter, completed),
    };
    log(
      `${phase}: ${result.perSecond} workflows/s, ${historyEvents.mean} events each, ${result.cpu.perItemMs.total} CPU ms each`,
    );
    return result;
  } finally {
    await child.stop();
  }
}
