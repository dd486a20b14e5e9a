// Phase 7, priority and fairness under EMAIL_RATE_LIMIT (default 5/s):
//  - a `high` email submitted right behind a batch of `--priority-backlog`
//    (default 2000) `normal` ones, and a second one once the whole batch waits
//    in front of the limit: how long from send() to the sink, how many batch
//    emails went before it, and whether the limit still held;
//  - two fairness keys, one flooding first, the other (weight 2) arriving
//    after: their shares of the deliveries while both have a backlog.
// The batch left undelivered at the end stays queued on a task queue no
// worker polls any more: it costs the later phases nothing.
import { type Client } from '@temporalio/client';
import protos from '@temporalio/proto';
import { mapLimit } from '../../src/concurrency.ts';
import { deliverTaskQueue } from '../../src/config.ts';
import { workflowIdFor } from '../../src/email/store.ts';
import type { Mailer, SendOptions } from '../../src/index.ts';
import { spawnChild } from '../children.ts';
import { type BenchContext, emailInput, log } from '../context.ts';
import { deliverDispatches, waitUntil } from '../measure.ts';
import type { PriorityResult } from '../results.ts';
import { maxInWindow, round } from '../stats.ts';

/** Deliver tasks waiting in front of the limit, as the server counts them. */
async function deliverBacklog(temporal: Client, namespace: string, taskQueue: string): Promise<number> {
  const res = await temporal.workflowService.describeTaskQueue({
    namespace,
    taskQueue: { name: deliverTaskQueue(taskQueue) },
    taskQueueType: protos.temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
    reportStats: true,
  });
  return Number(res.stats?.approximateBacklogCount ?? 0);
}

async function submit(mailer: Mailer, tag: string, n: number, options: SendOptions = {}): Promise<string[]> {
  return mapLimit(
    Array.from({ length: n }, (_, i) => i),
    32,
    async (i) => (await mailer.send(emailInput(tag, i), options)).id,
  );
}

export async function priorityPhase(ctx: BenchContext): Promise<PriorityResult> {
  const { options, runId, temporal, receipts, workerEnv, mailerFor, info } = ctx;
  const limit = options.rateLimit;
  const n = options.priorityBacklog;
  const taskQueue = `bench-priority-${runId}`;
  log(`priority: EMAIL_RATE_LIMIT=${limit}/s, a batch of ${n} normal emails, then high-priority ones…`);
  const worker = await spawnChild(
    'priority worker',
    'pipeline',
    workerEnv(taskQueue, { EMAIL_RATE_LIMIT: `${limit}/s` }),
  );
  const mailer = await mailerFor(taskQueue);
  const urgent: PriorityResult['urgent'] = [];
  const urgentIds: string[] = [];
  let batch: string[] = [];
  let rate: PriorityResult['rate'] | undefined;
  try {
    const batchStart = Date.now();
    batch = await submit(mailer, 'batch', n);
    log(`priority: batch submitted in ${((Date.now() - batchStart) / 1000).toFixed(1)} s`);
    const sendUrgent = async (when: string) => {
      const backlog = await deliverBacklog(temporal, info.temporalNamespace, taskQueue);
      const calledAt = Date.now();
      const { id } = await mailer.send(emailInput(`urgent-${urgent.length}`, 0), { priority: 'high' });
      const at = await waitUntil('the high-priority email at the sink', () => receipts.get(id), 120_000, 20);
      const batchDelivered = batch.filter((b) => (receipts.get(b) ?? Infinity) <= at).length;
      urgent.push({ when, deliverBacklog: backlog, batchUndelivered: n - batchDelivered, latencyMs: at - calledAt });
      urgentIds.push(id);
      log(
        `priority: high-priority email ${when}: at the sink ${at - calledAt} ms after send(); ${backlog} deliveries queued at the limit, ${n - batchDelivered} batch emails still undelivered`,
      );
    };
    await sendUrgent('right after the batch was submitted');
    await waitUntil(
      'the whole batch queued in front of the limit',
      async () => {
        const queued = await deliverBacklog(temporal, info.temporalNamespace, taskQueue);
        return queued + batch.filter((b) => receipts.has(b)).length >= n * 0.98;
      },
      600_000,
      1000,
    );
    await sendUrgent('with the whole batch queued at the limit');
    // The limit while the whole batch waits in front of it and the second high-priority email cuts in:
    // when Temporal started each deliver (history) within 20 s (smoke: 3 s) either side of that email's delivery.
    // Receipt times would add the worker's and the sink's jitter on a loaded machine.
    const windowMs = options.smoke ? 3000 : 20_000;
    const at = receipts.get(urgentIds[1]!)!;
    const from = at - windowMs;
    const to = at + windowMs;
    await waitUntil('deliveries for the window after it', () => Date.now() > to + 2000, to - Date.now() + 10_000, 250);
    const near = [...batch, ...urgentIds].filter(
      (id) => Math.abs((receipts.get(id) ?? -Infinity) - at) <= windowMs + 5000,
    );
    const started = (await mapLimit(near, 8, (id) => deliverDispatches(temporal, workflowIdFor(id))))
      .flat()
      .map((d) => d.started)
      .filter((t) => t >= from && t < to);
    const seconds = (to - from) / 1000;
    rate = {
      seconds,
      perSecond: round(started.length / seconds, 2),
      maxIn1sDispatched: maxInWindow(started).count,
      maxIn1sAccepted: maxInWindow(near.map((id) => receipts.get(id)!).filter((t) => t >= from && t < to)).count,
    };
  } finally {
    await worker.stop();
  }

  // Fairness: a fresh queue, so neither tenant has the batch in front of it.
  const fairQueue = `bench-fairness-${runId}`;
  const flood = options.smoke ? 30 : Math.round(limit * 60);
  const late = options.smoke ? 15 : Math.round(limit * 30);
  log(`fairness: tenant-a floods ${flood} emails (weight 1), then tenant-b sends ${late} (weight 2)…`);
  const fairWorker = await spawnChild(
    'fairness worker',
    'pipeline',
    workerEnv(fairQueue, { EMAIL_RATE_LIMIT: `${limit}/s` }),
  );
  const fairMailer = await mailerFor(fairQueue);
  let fairness: PriorityResult['fairness'] | undefined;
  try {
    const a = await submit(fairMailer, 'tenant-a', flood, { fairnessKey: 'tenant-a', fairnessWeight: 1 });
    await waitUntil(
      'tenant-a draining at the limit',
      () => a.filter((id) => receipts.has(id)).length >= limit * 2,
      120_000,
    );
    const b = await submit(fairMailer, 'tenant-b', late, { fairnessKey: 'tenant-b', fairnessWeight: 2 });
    const firstB = await waitUntil(
      'the first tenant-b delivery',
      () => {
        const t = b.map((id) => receipts.get(id)).filter((x): x is number => x !== undefined);
        return t.length ? Math.min(...t) : undefined;
      },
      120_000,
    );
    // While both have a backlog: from tenant-b's first delivery, as many deliveries as tenant-b sent.
    await waitUntil(
      'deliveries after tenant-b started',
      () => [...a, ...b].filter((id) => (receipts.get(id) ?? 0) >= firstB).length >= late,
      300_000,
    );
    const window = [
      ...a.map((id) => ({ t: receipts.get(id), k: 'a' })),
      ...b.map((id) => ({ t: receipts.get(id), k: 'b' })),
    ]
      .filter((d): d is { t: number; k: string } => d.t !== undefined && d.t >= firstB)
      .sort((x, y) => x.t - y.t)
      .slice(0, late);
    const bShare = window.filter((d) => d.k === 'b').length / window.length;
    fairness = {
      weights: { 'tenant-a': 1, 'tenant-b': 2 },
      flood,
      late,
      window: window.length,
      shareB: round(bShare, 3),
      expectedShareB: round(2 / 3, 3),
    };
    log(
      `fairness: of ${window.length} deliveries after tenant-b's first, tenant-b had ${(bShare * 100).toFixed(0)} % (weight 2 of 3: 67 % expected; first come, first served: 0 %)`,
    );
  } finally {
    await fairWorker.stop();
  }
  return { limitPerSecond: limit, batch: n, urgent, rate: rate!, fairness: fairness! };
}
