import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities/index.ts';

const { smokeCheck } = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', maximumAttempts: 5 },
});

/** Stack health check: one activity that touches Postgres and SMTP. */
export async function smokeWorkflow(checkId: string, to: string): Promise<{ messageId: string }> {
  return await smokeCheck(checkId, to);
}
