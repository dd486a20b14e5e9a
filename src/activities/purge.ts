// The purge step, run by the `mailer-purge-<queue>` Schedule: one call purges
// batch after batch for at most a minute, heartbeating after each, so a
// killed worker's call is retried elsewhere within the heartbeat timeout and
// resumes from what is still due (every batch commits whole). Returns counts
// only; the metrics and the log say how many and how long.
import { Context, log } from '@temporalio/activity';
import { purgeExpired as runPurge, type PurgeResult, retentionPolicy } from '../email/retention.ts';
import type { ActivityDeps } from './deps.ts';

/** Work per activity call: short enough for a heartbeat-sized retry, long enough for thousands of emails. */
export const PURGE_BUDGET_MS = 60_000;

export function createPurge({ db, config, metrics }: ActivityDeps) {
  return async function purgeExpired(): Promise<PurgeResult> {
    const ctx = Context.current();
    let seen = { contentPurged: 0, recordsDeleted: 0 };
    const result = await runPurge(db, retentionPolicy(config), {
      budgetMs: PURGE_BUDGET_MS,
      onBatch: (progress) => {
        // Counted as each batch commits, so a call that dies midway still counts what it did.
        metrics.purged('content', progress.contentPurged - seen.contentPurged);
        metrics.purged('record', progress.recordsDeleted - seen.recordsDeleted);
        seen = progress;
        ctx.heartbeat(progress);
      },
    });
    metrics.purgeRan(result.durationMs / 1000);
    log.info('purge', {
      contentPurged: result.contentPurged,
      recordsDeleted: result.recordsDeleted,
      batches: result.batches,
      durationMs: result.durationMs,
      done: result.done,
    });
    return result;
  };
}
