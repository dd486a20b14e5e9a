// One per deployment (`webhooks-<task queue>`), started by every worker that
// has WEBHOOK_URL: runs pumpWebhooks back to back, forever. What to send, and
// when to try again, is in Postgres; history holds only the counts of each run.
// The sender is apart from the emails' workflows, so a receiver that is down
// for an hour keeps no email's workflow open, and an email's workflow costs
// nothing more with webhooks on.
import { ApplicationFailure, ActivityFailure, continueAsNew, log, proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities/index.ts';

/** One run of the pump; it returns sooner only when cancelled. */
export const PUMP_RUN_MS = 60_000;
const RUNS_PER_HISTORY = 100;

const { pumpWebhooks } = proxyActivities<Activities>({
  // The run, then the POSTs in flight when it ends (each bounded by WEBHOOK_TIMEOUT ≤ 60 s).
  startToCloseTimeout: '3 minutes',
  heartbeatTimeout: '30 seconds',
  // Postgres down, the lock held by a run that is still ending: try again, for as long as it takes.
  retry: {
    initialInterval: '1 second',
    backoffCoefficient: 2,
    maximumInterval: '30 seconds',
    nonRetryableErrorTypes: ['WebhookNotConfigured'],
  },
});

export async function webhookSender(): Promise<void> {
  for (let run = 0; run < RUNS_PER_HISTORY; run++) {
    try {
      await pumpWebhooks(PUMP_RUN_MS);
    } catch (err) {
      // The worker that took the task has no WEBHOOK_URL: webhooks were turned
      // off. Stop; a worker started with WEBHOOK_URL starts the sender again.
      if (
        err instanceof ActivityFailure &&
        err.cause instanceof ApplicationFailure &&
        err.cause.type === 'WebhookNotConfigured'
      ) {
        log.warn('webhook sender stopped: WEBHOOK_URL is not set on the worker');
        return;
      }
      throw err;
    }
  }
  await continueAsNew<typeof webhookSender>();
}
