// The engine floor: a workflow with the same shape as sendEmail
// (src/workflows/send-email.ts) and none of its I/O. Same activities in the same
// order and kind — blockCheck and prepare as regular activities on the main
// task queue, deliver as a regular activity on `<queue>-deliver`, with the same
// options — the same query handler, current details and search-attribute
// upserts (EmailStatus `sending` before deliver, `sent` at the end), so its
// history has the same events. Its activities (bench/worker-child.ts) return
// at once. Bundled by the bench only; never part of src/workflows.
import {
  ActivityCancellationType,
  defineQuery,
  defineSignal,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import type { DeliverPolicy } from '../src/config.ts';
import { EmailStatus } from '../src/search-attributes.ts';

export interface FloorActivities {
  blockCheck(emailId: string): Promise<{ outcome: 'pass' }>;
  prepare(emailId: string): Promise<{ outcome: 'ready'; size: number; deliverTaskQueue: string; policy: DeliverPolicy }>;
  deliver(emailId: string, onUncertain: DeliverPolicy['onUncertain']): Promise<{ outcome: 'sent'; alreadySent: boolean }>;
}

export const floorStateQuery = defineQuery<{ step: string; status: string }>('state');
export const floorResolveSignal = defineSignal<[{ decision: 'sent' | 'resend' }]>('resolve');

// The same options as sendEmail's database steps.
const steps = proxyActivities<FloorActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' },
});

export async function floorEmail({ emailId }: { emailId: string }): Promise<{ status: 'sent' }> {
  const state = { step: 'checking', status: 'queued' };
  setHandler(floorStateQuery, () => state);
  setHandler(floorResolveSignal, () => {});
  const enter = (step: string, status: string) => {
    state.step = step;
    if (state.status !== status) upsertSearchAttributes({ [EmailStatus.name]: [status] });
    state.status = status;
    setCurrentDetails(`**${status}** — step: ${step}`);
  };

  enter('checking', 'queued');
  await steps.blockCheck(emailId);
  enter('preparing', 'queued');
  const plan = await steps.prepare(emailId);
  const { deliver } = proxyActivities<FloorActivities>({
    taskQueue: plan.deliverTaskQueue,
    startToCloseTimeout: plan.policy.startToCloseMs,
    heartbeatTimeout: plan.policy.heartbeatMs,
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    retry: { maximumAttempts: 1 },
  });
  enter('delivering', 'sending');
  await deliver(emailId, plan.policy.onUncertain);
  enter('done', 'sent');
  return { status: 'sent' };
}
