// Workflows for the engine-floor phases that are not sendEmail itself. The
// `engine` phase runs the real sendEmail (from the worker's own bundle) with
// activities that return at once (bench/worker-child.ts), so its shape cannot
// drift from the product's. These two are the comparisons around it; bundled
// by the bench only, never part of src/workflows.
//
//   floorEmailRegular  sendEmail's shape before the fast path (commit b5ad201):
//                      blockCheck and prepare as regular activities on the main
//                      queue, EmailStatus upserted to `sending` before deliver
//                      and to `sent` at the end: 25 events. A frozen record of
//                      that shape; run with `--phases engine-regular` to measure
//                      what the fast path buys, in the same conditions.
//   minimalWorkflow    the smallest workflow that does any work: one no-op
//                      activity on its own task queue, no search attributes,
//                      no query, no summary (11 events). The figure people
//                      quote for a dev server ("N one-activity workflows/s"):
//                      what the engine costs before anything of ours.
import {
  ActivityCancellationType,
  defineQuery,
  defineSignal,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  sleep,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import type { DeliverPolicy } from '../src/config.ts';
import { EmailAttempt, EmailErrorClass, EmailStatus } from '../src/search-attributes.ts';

/** What the floor's no-op activities return: the common-path results of the real ones. */
export interface FloorActivities {
  blockCheck(emailId: string): Promise<{ outcome: 'pass' }>;
  prepare(emailId: string): Promise<{
    outcome: 'ready';
    size: number;
    deliverTaskQueue: string;
    policy: DeliverPolicy;
    firstAttempt: 'local' | 'activity';
  }>;
  deliver(
    emailId: string,
    onUncertain: DeliverPolicy['onUncertain'],
  ): Promise<{ outcome: 'sent'; alreadySent: boolean; afterUncertain: boolean }>;
}

export const floorStateQuery = defineQuery<{ step: string; status: string }>('state');
export const floorResolveSignal = defineSignal<[{ decision: 'sent' | 'resend' }]>('resolve');

// The same options as sendEmail's database steps.
const stepOptions = {
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' },
} as const;
const regular = proxyActivities<FloorActivities>(stepOptions);

export async function floorEmailRegular({ emailId }: { emailId: string }): Promise<{ status: 'sent' }> {
  const state = { step: 'checking', status: 'queued' };
  setHandler(floorStateQuery, () => state);
  setHandler(floorResolveSignal, () => {});
  let shown = 'queued';
  const enter = (step: string, status: string) => {
    state.step = step;
    state.status = status;
    if (status !== shown) {
      upsertSearchAttributes({ [EmailStatus.name]: [status] });
      shown = status;
    }
    setCurrentDetails(`**${status}** — step: ${step}`);
  };

  enter('checking', 'queued');
  await regular.blockCheck(emailId);
  enter('preparing', 'queued');
  const plan = await regular.prepare(emailId);
  const { deliver } = proxyActivities<FloorActivities>({
    taskQueue: plan.deliverTaskQueue,
    startToCloseTimeout: plan.policy.startToCloseMs,
    heartbeatTimeout: plan.policy.heartbeatMs,
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    retry: { maximumAttempts: 1 },
  });
  // The retry loop of that time: only taken when an attempt is lost (e.g. a
  // task that timed out under overload), never on the common path.
  for (let attempt = 1; ; attempt++) {
    enter('delivering', attempt === 1 ? 'sending' : 'retrying');
    try {
      await deliver(emailId, plan.policy.onUncertain);
      break;
    } catch (err) {
      if (plan.policy.maximumAttempts > 0 && attempt >= plan.policy.maximumAttempts) throw err;
      upsertSearchAttributes({ [EmailAttempt.name]: [attempt], [EmailErrorClass.name]: ['ActivityTimeout'] });
      enter('waiting-to-retry', 'retrying');
      await sleep(
        Math.min(
          plan.policy.initialIntervalMs * plan.policy.backoffCoefficient ** (attempt - 1),
          plan.policy.maximumIntervalMs,
        ),
      );
    }
  }
  enter('done', 'sent');
  return { status: 'sent' };
}

export async function minimalWorkflow({ emailId }: { emailId: string }): Promise<{ status: 'sent' }> {
  await regular.blockCheck(emailId);
  return { status: 'sent' };
}
