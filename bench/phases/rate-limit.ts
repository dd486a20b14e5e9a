// Phase 5, the global rate limit: EMAIL_RATE_LIMIT with 1, 2 and 3 worker
// processes on one queue, a backlog kept in front of the limit all along.
// Is the limit global, and how close to it does delivery run?
import { mapLimit } from '../../src/concurrency.ts';
import { workflowIdFor } from '../../src/email/store.ts';
import { spawnChild } from '../children.ts';
import { type BenchContext, emailInput, log, sleep } from '../context.ts';
import { deliverDispatches, roundDistribution, waitUntil } from '../measure.ts';
import type { RateLimitResult, RateLimitRun } from '../results.ts';
import { distribution, maxInWindow, perSecond, round } from '../stats.ts';

/** The steady window starts this many seconds after the first delivery (after the limiter's initial burst). */
const STEADY_AFTER_S = 2;

export async function rateLimitPhase(ctx: BenchContext): Promise<RateLimitResult> {
  const { options, results, runId, temporal, receipts, workerEnv, mailerFor } = ctx;
  const limit = options.rateLimit;
  const runsOut: RateLimitRun[] = [];
  for (const workers of options.rateWorkers) {
    const taskQueue = `bench-ratelimit${workers}-${runId}`;
    log(
      `ratelimit: EMAIL_RATE_LIMIT=${limit}/s, ${workers} worker process(es) on "${taskQueue}", ${options.rateSeconds} s…`,
    );
    const env = workerEnv(taskQueue, { EMAIL_RATE_LIMIT: `${limit}/s` });
    const procs = await Promise.all(
      Array.from({ length: workers }, (_, i) => spawnChild(`rate-limit worker ${i + 1}/${workers}`, 'pipeline', env)),
    );
    const mailer = await mailerFor(taskQueue);
    const submitted: string[] = [];
    let inFlight = 0;
    let feeding = true;
    // Keeps a backlog in front of the limit all along, whatever the delivered rate.
    const target = Math.max(20, Math.ceil(limit * 4));
    const feeder = (async () => {
      while (feeding) {
        const outstanding = submitted.filter((id) => !receipts.has(id)).length + inFlight;
        for (let k = outstanding; k < target && feeding; k++) {
          inFlight++;
          mailer
            .send(emailInput(`ratelimit${workers}`, submitted.length + inFlight))
            .then(
              (r) => submitted.push(r.id),
              (err: unknown) => results.notes.push(`ratelimit: send failed: ${String(err)}`),
            )
            .finally(() => inFlight--);
        }
        await sleep(100);
      }
    })();
    try {
      const firstAt = await waitUntil(
        'the first rate-limited delivery',
        () => {
          const times = submitted.map((id) => receipts.get(id)).filter((t): t is number => t !== undefined);
          return times.length ? Math.min(...times) : undefined;
        },
        60_000,
      );
      // Two seconds more than the window, so that a second window of the same
      // length can start after the limiter's initial burst.
      const end = firstAt + (options.rateSeconds + STEADY_AFTER_S) * 1000;
      while (Date.now() < end + 200) await sleep(100);
    } finally {
      feeding = false;
      await feeder;
      await Promise.allSettled(procs.map((p) => p.stop()));
    }
    const times = submitted
      .map((id) => receipts.get(id))
      .filter((t): t is number => t !== undefined)
      .sort((a, b) => a - b);
    const firstAt = times[0]!;
    const inWindow = times.filter((t) => t < firstAt + options.rateSeconds * 1000);
    const rate = inWindow.length / options.rateSeconds;
    // Temporal's limiter is a token bucket whose burst is the rate itself
    // (matching: burst = ceil(rps), not configurable lower): starting from an
    // idle queue it lets one bucketful through at once. The same-length
    // window from 2 s on shows the rate it keeps.
    const steadyFrom = firstAt + STEADY_AFTER_S * 1000;
    const steady = times.filter((t) => t >= steadyFrom && t < steadyFrom + options.rateSeconds * 1000);
    const steadyRate = steady.length / options.rateSeconds;
    // When Temporal handed out each delivery (ActivityTaskStarted of deliver): the limiter
    // itself, without the worker's and the sink's jitter that the receipt times carry.
    const delivered = submitted.filter((id) => (receipts.get(id) ?? Infinity) < firstAt + options.rateSeconds * 1000);
    const dispatches = (await mapLimit(delivered, 8, (id) => deliverDispatches(temporal, workflowIdFor(id)))).flat();
    const started = dispatches.map((d) => d.started);
    const firstStart = Math.min(...started);
    const queueWait = distribution(dispatches.map((d) => d.started - d.scheduled));
    const run: RateLimitRun = {
      workers,
      limitPerSecond: limit,
      seconds: options.rateSeconds,
      submitted: submitted.length,
      delivered: inWindow.length,
      ratePerSecond: round(rate, 3),
      errorPercent: round(((rate - limit) / limit) * 100, 1),
      firstSecond: times.filter((t) => t < firstAt + 1000).length,
      steadyRatePerSecond: round(steadyRate, 3),
      steadyErrorPercent: round(((steadyRate - limit) / limit) * 100, 1),
      maxIn1s: maxInWindow(inWindow).count,
      maxIn1sDispatched: maxInWindow(started).count,
      maxIn1sDispatchedAfter2s: maxInWindow(started.filter((t) => t >= firstStart + 2000)).count,
      deliverQueueWaitMs: roundDistribution(queueWait),
      // Deliveries queued in front of the limiter (waiting more than two slots of it), or it let too many through.
      limitBinding: queueWait.p50 >= 2000 / limit || rate > limit * 1.05,
      perSecond: perSecond(inWindow, firstAt, options.rateSeconds),
    };
    if (!run.limitBinding) {
      results.notes.push(
        `ratelimit: with ${workers} worker(s) the pipeline delivered ${run.ratePerSecond}/s, below the ${limit}/s limit: deliveries did not queue in front of the limit (deliver queue wait p50 ${run.deliverQueueWaitMs.p50} ms), so the engine, not the limit, set the rate.`,
      );
    }
    runsOut.push(run);
    log(
      `ratelimit: ${workers} worker(s): ${run.ratePerSecond}/s (${run.errorPercent >= 0 ? '+' : ''}${run.errorPercent} %), from 2 s on ${run.steadyRatePerSecond}/s (${run.steadyErrorPercent >= 0 ? '+' : ''}${run.steadyErrorPercent} %), max in any 1 s: ${run.maxIn1s} received, ${run.maxIn1sDispatched} dispatched (${run.maxIn1sDispatchedAfter2s} after the first 2 s); deliver queue wait p50 ${run.deliverQueueWaitMs.p50} ms`,
    );
  }
  return { limitPerSecond: limit, runs: runsOut };
}
