// Phase 6, backlog drain: the sink goes down, a backlog is submitted and fails
// once, the sink comes back; how fast it drains under the limit, and whether
// any second exceeds it.
import { mapLimit } from '../../src/concurrency.ts';
import { workflowIdFor } from '../../src/email/store.ts';
import { spawnChild } from '../children.ts';
import { type BenchContext, log } from '../context.ts';
import {
  dbNow,
  deliverDispatches,
  historySample,
  submitClosedLoop,
  tried,
  waitForSent,
  waitUntil,
} from '../measure.ts';
import type { BacklogResult } from '../results.ts';
import { maxInWindow, perSecond, round } from '../stats.ts';

export async function backlogPhase(ctx: BenchContext): Promise<BacklogResult> {
  const { options, runId, sink, temporal, db, receipts, workerEnv, mailerFor } = ctx;
  const n = options.backlog;
  const limit = options.drainRate;
  const taskQueue = `bench-backlog-${runId}`;
  const settings = {
    EMAIL_RATE_LIMIT: `${limit}/s`,
    DELIVER_RETRY_MAX_INTERVAL: options.drainRetryMaxInterval,
    // No email may give up during the outage; the drain must account for all of them.
    DELIVER_MAX_ATTEMPTS: '0',
  };
  log(
    `backlog: sink down, ${n} emails submitted, then the sink comes back; ${Object.entries(settings)
      .map(([k, v]) => `${k}=${v}`)
      .join(' ')}…`,
  );
  const child = await spawnChild('backlog worker', 'pipeline', workerEnv(taskQueue, settings));
  const mailer = await mailerFor(taskQueue);
  try {
    const since = await dbNow(db);
    await sink.close();
    const downAt = Date.now();
    const { records, firstCall } = await submitClosedLoop(mailer, 'backlog', n, options.concurrency);
    const submitSeconds = (Math.max(...records.map((r) => r.returnedAt)) - firstCall) / 1000;
    // Let the outage bite: every delivery attempted once (and failed), or outageWaitSeconds at most.
    await waitUntil(
      'backlog deliveries to fail once',
      async () => (await tried(db, since)) >= n,
      options.outageWaitSeconds * 1000,
    ).catch(() => undefined);
    const triedBefore = await tried(db, since);
    await sink.listen();
    const upAt = Date.now();
    log(
      `backlog: sink back after ${((upAt - downAt) / 1000).toFixed(1)} s; ${triedBefore} of ${n} emails had a failed attempt; draining…`,
    );
    const lastSent = await waitForSent(db, since, n, 'backlog');
    const { rows } = await db.query<{ attempts: string }>(
      'SELECT sum(attempts) AS attempts FROM mailer.emails WHERE created_on >= $1',
      [since],
    );
    const drainSeconds = (lastSent - upAt) / 1000;
    const times = records.map((r) => receipts.get(r.id)).filter((t): t is number => t !== undefined);
    const maxIn1s = maxInWindow(times.filter((t) => t >= upAt)).count;
    const dispatched = (await mapLimit(records, 8, (r) => deliverDispatches(temporal, workflowIdFor(r.id))))
      .flat()
      .map((d) => d.started)
      .filter((t) => t >= upAt);
    const maxIn1sDispatched = maxInWindow(dispatched).count;
    const result: BacklogResult = {
      emails: n,
      limitPerSecond: limit,
      settings,
      submitSeconds: round(submitSeconds, 3),
      outageSeconds: round((upAt - downAt) / 1000, 3),
      emailsTriedBeforeReopen: triedBefore,
      failedAttempts: Number(rows[0]?.attempts ?? 0) - n,
      drainSeconds: round(drainSeconds, 3),
      idealDrainSeconds: round(n / limit, 3),
      drainPerSecond: round(n / drainSeconds, 1),
      maxIn1s,
      maxIn1sDispatched,
      // The target's own test: no second above twice the limit (a token bucket
      // that starts full allows one bucketful on top of the rate).
      limitHeld: maxIn1sDispatched <= 2 * limit,
      limitBinding: maxIn1sDispatched >= 0.9 * limit,
      sent: times.length,
      perSecond: perSecond(times, upAt, Math.ceil(drainSeconds) + 1),
      // Emails that failed at least once and were sent on a later attempt: the retried path.
      historyEvents: await historySample(
        temporal,
        (
          await retried(
            db,
            records.map((r) => r.id),
          )
        ).map(workflowIdFor),
        options.historySamples,
      ),
    };
    log(
      `backlog: drained ${n} in ${result.drainSeconds} s (ideal ${result.idealDrainSeconds} s), max in any 1 s: ${maxIn1s} accepted, ${maxIn1sDispatched} dispatched (limit ${limit})`,
    );
    return result;
  } finally {
    await sink.listen();
    await child.stop();
  }
}

/** Of `ids`, those that took more than one attempt. */
async function retried(db: BenchContext['db'], ids: string[]): Promise<string[]> {
  const { rows } = await db.query<{ id: string }>(
    'SELECT id FROM mailer.emails WHERE id = ANY($1) AND attempts >= 2 ORDER BY created_on',
    [ids],
  );
  return rows.map((r) => r.id);
}
