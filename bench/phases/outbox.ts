// Phase: enqueue in the caller's transaction. Each commit is a business row and
// send({ db: client }) in one BEGIN … COMMIT; the relay in the worker(s) starts
// the workflow after the commit. Measured: commit returned → Temporal's start
// time of the workflow (the same machine clock), with 1 and 3 worker processes,
// at a steady open-loop rate and in a burst of commits all at once. For
// comparison on the same machine at the same moment, a `direct` run sends the
// same way as the ordinary send() (which starts the workflow itself): send()
// called → the workflow's start time.
import os from 'node:os';
import type { Client } from '@temporalio/client';
import type pg from 'pg';
import { type BenchChild, spawnChild } from '../children.ts';
import { type BenchContext, emailInput, log, sleep, throwIfInterrupted } from '../context.ts';
import { dbNow, roundDistribution, waitForSent, waitUntil } from '../measure.ts';
import { distribution, type Distribution } from '../stats.ts';

export interface OutboxRun {
  workers: number;
  kind: 'direct' | 'steady' | 'burst';
  commits: number;
  /** Steady: commits per second asked for; burst: transactions in flight. */
  rate?: number;
  inFlight?: number;
  /** First commit → last commit returned. */
  submitSeconds: number;
  /** COMMIT returned (direct: send() called) → the workflow's start time in Temporal. */
  commitToStartedMs: Distribution;
  /** Load average (1 min) when the run began. */
  loadAverage: number;
  /** Direct: send() calls whose start missed its deadline (left to the reconciler; not in the latencies). */
  notStarted: number;
}

export interface OutboxResult {
  runs: OutboxRun[];
}

interface Commit {
  id: string;
  committedAt: number;
  started: boolean;
}

async function commitOne(
  pool: pg.Pool,
  mailer: Awaited<ReturnType<BenchContext['mailerFor']>>,
  tag: string,
  i: number,
  direct: boolean,
): Promise<Commit> {
  if (direct) {
    const calledAt = Date.now();
    const sent = await mailer.send(emailInput(tag, i));
    return { id: sent.id, committedAt: calledAt, started: sent.workflowStarted };
  }
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query('INSERT INTO public.bench_orders (item) VALUES ($1)', [`${tag}-${i}`]);
    const sent = await mailer.send(emailInput(tag, i), { db: client });
    await client.query('COMMIT');
    return { id: sent.id, committedAt: Date.now(), started: true };
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    client.release();
  }
}

/** Temporal's start time (ms) of every workflow on `taskQueue`, once visibility lists `n`. */
async function startTimes(temporal: Client, taskQueue: string, n: number): Promise<Map<string, number>> {
  const times = new Map<string, number>();
  await waitUntil(
    `${n} workflows listed on ${taskQueue}`,
    async () => (await temporal.workflow.count(`TaskQueue = "${taskQueue}"`)).count >= n,
    120_000,
    250,
  );
  for await (const wf of temporal.workflow.list({ query: `TaskQueue = "${taskQueue}"` }))
    times.set(wf.workflowId, wf.startTime.getTime());
  return times;
}

async function runOnce(
  ctx: BenchContext,
  workers: number,
  kind: OutboxRun['kind'],
  commits: number,
  rateOrInFlight: number,
): Promise<OutboxRun> {
  const taskQueue = `bench-outbox-${kind}-${workers}w-${ctx.runId}`;
  const children: BenchChild[] = [];
  try {
    for (let w = 0; w < workers; w++)
      children.push(await spawnChild(`outbox worker ${w + 1}/${workers}`, 'pipeline', ctx.workerEnv(taskQueue)));
    const mailer = await ctx.mailerFor(taskQueue);
    const since = await dbNow(ctx.db);
    const loadAverage = os.loadavg()[0]!;
    log(
      `outbox: ${kind}, ${workers} worker(s), ${commits} ${kind === 'direct' ? 'send() calls' : 'commits'} ${kind !== 'burst' ? `at ${rateOrInFlight}/s` : `with ${rateOrInFlight} transactions in flight`} (load average ${loadAverage.toFixed(1)})…`,
    );
    const first = Date.now();
    let done: Commit[];
    if (kind !== 'burst') {
      const pending: Promise<Commit>[] = [];
      for (let i = 0; i < commits; i++) {
        throwIfInterrupted();
        const wait = first + (i * 1000) / rateOrInFlight - Date.now();
        if (wait > 0) await sleep(wait);
        pending.push(commitOne(mailer.pool, mailer, `outbox-${kind}-${workers}`, i, kind === 'direct'));
      }
      done = await Promise.all(pending);
    } else {
      done = [];
      let next = 0;
      await Promise.all(
        Array.from({ length: rateOrInFlight }, async () => {
          for (let i = next++; i < commits; i = next++)
            done.push(await commitOne(mailer.pool, mailer, `outbox-${kind}-${workers}`, i, false));
        }),
      );
    }
    const submitSeconds = (Math.max(...done.map((c) => c.committedAt)) - first) / 1000;
    const expected = done.filter((c) => c.started);
    const started = await startTimes(ctx.temporal, taskQueue, expected.length);
    const latencies = expected.map((c) => started.get(`email-${c.id}`)! - c.committedAt);
    // The next run starts on a quiet pipeline.
    await waitForSent(ctx.db, since, expected.length, `outbox ${kind} ${workers}w`);
    const run: OutboxRun = {
      workers,
      kind,
      commits,
      ...(kind !== 'burst' ? { rate: rateOrInFlight } : { inFlight: rateOrInFlight }),
      submitSeconds: Math.round(submitSeconds * 1000) / 1000,
      commitToStartedMs: roundDistribution(distribution(latencies)),
      loadAverage,
      notStarted: commits - expected.length,
    };
    log(
      `outbox: ${kind}, ${workers} worker(s): commit → started p50 ${run.commitToStartedMs.p50} ms, p99 ${run.commitToStartedMs.p99} ms, max ${run.commitToStartedMs.max} ms`,
    );
    return run;
  } finally {
    await Promise.all(children.map((c) => c.stop()));
  }
}

export async function outboxPhase(ctx: BenchContext): Promise<OutboxResult> {
  const { smoke } = ctx.options;
  await ctx.db.query('CREATE TABLE IF NOT EXISTS public.bench_orders (id bigserial PRIMARY KEY, item text NOT NULL)');
  const runs: OutboxRun[] = [];
  for (const workers of smoke ? [1] : [1, 3]) {
    runs.push(await runOnce(ctx, workers, 'direct', smoke ? 10 : 300, smoke ? 5 : 20));
    runs.push(await runOnce(ctx, workers, 'steady', smoke ? 10 : 300, smoke ? 5 : 20));
    runs.push(await runOnce(ctx, workers, 'burst', smoke ? 40 : 1000, 8)); // the bench's pool has 10 connections
  }
  return { runs };
}
