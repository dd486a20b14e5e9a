// Phase 4, latency under open-loop load: send() returned → the sink accepted
// the message, with arrivals at 25/50/75 % of the saturation rate.
import { spawnChild } from '../children.ts';
import { type BenchContext, log } from '../context.ts';
import { roundDistribution, submitOpenLoop, waitUntil } from '../measure.ts';
import type { LatencyLevel, LatencyResult } from '../results.ts';
import { distribution, round } from '../stats.ts';

export async function latencyPhase(ctx: BenchContext): Promise<LatencyResult> {
  const { options, results, runId, receipts, workerEnv, mailerFor } = ctx;
  const saturationRate = results.phases.pipeline?.perSecond ?? options.saturationRate!;
  let worker = ctx.warmWorker;
  if (!worker) {
    const taskQueue = `bench-latency-${runId}`;
    const child = await spawnChild('latency worker', 'pipeline', workerEnv(taskQueue));
    worker = { child, mailer: await mailerFor(taskQueue), taskQueue };
    ctx.warmWorker = worker;
    // A fresh worker (no pipeline phase before this one) is cold: JIT, workflow
    // cache, Postgres connections opened on first use. Warm it up at the first
    // level's rate and discard those figures, as the pipeline phase does otherwise.
    const rate = (saturationRate * options.latencyLoads[0]!) / 100;
    const warmup = await submitOpenLoop(worker.mailer, 'latency-warmup', Math.max(10, Math.round(rate * 3)), rate);
    await waitUntil('the warm-up emails at the sink', () => warmup.every((r) => receipts.has(r.id)), 120_000);
  }
  const levels: LatencyLevel[] = [];
  for (const load of options.latencyLoads) {
    const rate = (saturationRate * load) / 100;
    const count = Math.max(5, Math.round(rate * options.latencySeconds));
    log(
      `latency: ${load} % of saturation = ${rate.toFixed(1)} emails/s, open loop, ${count} emails over ${options.latencySeconds} s…`,
    );
    const records = await submitOpenLoop(worker.mailer, `latency${load}`, count, rate);
    const ids = records.map((r) => r.id);
    await waitUntil(
      `${count} latency emails at the sink`,
      () => ids.every((id) => receipts.has(id)),
      120_000 + count * 100,
    );
    const first = Math.min(...records.map((r) => r.scheduledAt));
    const last = Math.max(...records.map((r) => r.scheduledAt));
    const level: LatencyLevel = {
      loadPercent: load,
      targetRate: round(rate, 2),
      achievedRate: round(count > 1 ? (count - 1) / ((last - first) / 1000) : rate, 2),
      seconds: options.latencySeconds,
      emails: count,
      delivered: ids.filter((id) => receipts.has(id)).length,
      latencyMs: roundDistribution(distribution(records.map((r) => receipts.get(r.id)! - r.returnedAt))),
      sendMs: roundDistribution(distribution(records.map((r) => r.returnedAt - r.scheduledAt))),
      lateArrivals: records.filter((r) => r.calledAt - r.scheduledAt > 50).length,
    };
    levels.push(level);
    log(
      `latency: ${load} %: p50 ${level.latencyMs.p50} ms, p95 ${level.latencyMs.p95} ms, p99 ${level.latencyMs.p99} ms`,
    );
  }
  return { saturationRate, saturationRateSource: results.phases.pipeline ? 'pipeline' : 'option', levels };
}
