// Run by the `mailer-purge-<queue>` Temporal Schedule (every MAILER_PURGE_INTERVAL):
// purges the content of emails final for EMAIL_CONTENT_RETENTION (and deletes
// records past EMAIL_RECORD_RETENTION, when set). Each activity call works
// for about a minute; the run calls again while work is left, up to an hour's
// worth, then leaves the rest to the next firing (the Schedule skips a firing
// while a run is still going).
import { proxyActivities } from '@temporalio/workflow';
import type { Activities, PurgeResult } from '../activities/index.ts';

const { purgeExpired } = proxyActivities<Activities>({
  startToCloseTimeout: '5 minutes',
  // A killed worker's call is retried on another within this.
  heartbeatTimeout: '1 minute',
  retry: { maximumAttempts: 3 },
});

const MAX_CALLS = 60;

export interface PurgeRunResult {
  contentPurged: number;
  recordsDeleted: number;
  batches: number;
  calls: number;
  /** False when work was left for the next run. */
  done: boolean;
}

export async function purgeWorkflow(): Promise<PurgeRunResult> {
  const total: PurgeRunResult = { contentPurged: 0, recordsDeleted: 0, batches: 0, calls: 0, done: false };
  while (total.calls < MAX_CALLS) {
    const r: PurgeResult = await purgeExpired();
    total.contentPurged += r.contentPurged;
    total.recordsDeleted += r.recordsDeleted;
    total.batches += r.batches;
    total.calls++;
    if (r.done) {
      total.done = true;
      break;
    }
  }
  return total;
}
