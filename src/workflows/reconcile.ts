// Run by the `mailer-reconcile-<queue>` Temporal Schedule (every
// RECONCILE_INTERVAL), so lost emails are resent even if nobody looks.
import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities/index.ts';

const { reconcileLost } = proxyActivities<Activities>({
  startToCloseTimeout: '5 minutes',
  retry: { maximumAttempts: 3 },
});

export async function reconcileWorkflow(): Promise<{ lost: number; restarted: string[]; skipped: number }> {
  return await reconcileLost();
}
