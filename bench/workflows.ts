// The engine floor: workflows with the same shape as sendEmail
// (src/workflows/send-email.ts) and none of its I/O. Their activities
// (bench/worker-child.ts) return at once, so what is left is what Temporal and
// the SDK cost. Bundled by the bench only; never part of src/workflows.
//
//   floorEmail         the current shape (since commit b5ad201, "fast path"):
//                      blockCheck and prepare as LOCAL activities in the
//                      workflow's worker, deliver as a regular activity on
//                      `<queue>-deliver`, the state query and resolve signal,
//                      current details, and one search-attribute upsert on the
//                      common path (EmailStatus `sent` at the end; `queued` →
//                      `sending` is not upserted): 14 history events.
//   floorEmailRegular  the shape before it: blockCheck and prepare as regular
//                      activities on the main queue, EmailStatus upserted to
//                      `sending` before deliver and to `sent` at the end: 25 events.
//                      Run with `--phases engine-regular` to measure what the
//                      fast path buys, in the same conditions.
//   minimalWorkflow    the smallest workflow that does any work: one no-op
//                      activity on its own task queue, no search attributes,
//                      no query, no summary (11 events). The figure people
//                      quote for a dev server ("N one-activity workflows/s"):
//                      what the engine costs before anything of ours.
//
// The bench compares the floor's history length with the pipeline's and says
// so when they differ: then sendEmail changed shape and this file must follow.
import {
  ActivityCancellationType,
  defineQuery,
  defineSignal,
  proxyActivities,
  proxyLocalActivities,
  setCurrentDetails,
  setHandler,
  sleep,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import type { DeliverPolicy } from '../src/config.ts';
import { EmailAttempt, EmailErrorClass, EmailStatus } from '../src/search-attributes.ts';

export interface FloorActivities {
  blockCheck(emailId: string): Promise<{ outcome: 'pass' }>;
  prepare(emailId: string): Promise<{ outcome: 'ready'; size: number; deliverTaskQueue: string; policy: DeliverPolicy }>;
  deliver(emailId: string, onUncertain: DeliverPolicy['onUncertain']): Promise<{ outcome: 'sent'; alreadySent: boolean }>;
}

export const floorStateQuery = defineQuery<{ step: string; status: string }>('state');
export const floorResolveSignal = defineSignal<[{ decision: 'sent' | 'resend' }]>('resolve');

// The same options as sendEmail's database steps.
const stepOptions = {
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' },
} as const;
const local = proxyLocalActivities<FloorActivities>(stepOptions);
const regular = proxyActivities<FloorActivities>(stepOptions);

async function floor(emailId: string, shape: 'current' | 'regular'): Promise<{ status: 'sent' }> {
  const state = { step: 'checking', status: 'queued' };
  setHandler(floorStateQuery, () => state);
  setHandler(floorResolveSignal, () => {});
  let shown = 'queued';
  const enter = (step: string, status: string) => {
    state.step = step;
    state.status = status;
    const skip = shape === 'current' && status === 'sending' && shown === 'queued';
    if (status !== shown && !skip) {
      upsertSearchAttributes({ [EmailStatus.name]: [status] });
      shown = status;
    }
    setCurrentDetails(`**${status}** — step: ${step}`);
  };

  const steps = shape === 'current' ? local : regular;
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
  // The same retry loop as sendEmail: only taken when an attempt is lost (e.g. a task
  // that timed out under overload), never on the common path.
  for (let attempt = 1; ; attempt++) {
    enter('delivering', attempt === 1 ? 'sending' : 'retrying');
    try {
      await deliver(emailId, plan.policy.onUncertain);
      break;
    } catch (err) {
      if (plan.policy.maximumAttempts > 0 && attempt >= plan.policy.maximumAttempts) throw err;
      upsertSearchAttributes({ [EmailAttempt.name]: [attempt], [EmailErrorClass.name]: ['ActivityTimeout'] });
      enter('waiting-to-retry', 'retrying');
      await sleep(Math.min(plan.policy.initialIntervalMs * plan.policy.backoffCoefficient ** (attempt - 1), plan.policy.maximumIntervalMs));
    }
  }
  enter('done', 'sent');
  return { status: 'sent' };
}

export async function floorEmail({ emailId }: { emailId: string }): Promise<{ status: 'sent' }> {
  return floor(emailId, 'current');
}

export async function floorEmailRegular({ emailId }: { emailId: string }): Promise<{ status: 'sent' }> {
  return floor(emailId, 'regular');
}

export async function minimalWorkflow({ emailId }: { emailId: string }): Promise<{ status: 'sent' }> {
  await regular.blockCheck(emailId);
  return { status: 'sent' };
}
