// One workflow per email, id `email-<record id>`. Only the email id (and the
// optional send time) enters history; addresses, bodies and attachments stay
// in Postgres. Steps: optional durable wait until send_at → blockCheck →
// prepare → deliver. Postgres remains the truth for the email's status; the
// workflow keeps its own view for queries and the EmailStatus search attribute.
import {
  ActivityCancellationType,
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  defineQuery,
  isCancellation,
  proxyActivities,
  setHandler,
  sleep,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import type { Activities, DeliverResult } from '../activities/index.ts';
import type { EmailStatus } from '../email/store.ts';
import { EmailStatus as EmailStatusKey } from '../search-attributes.ts';

export interface SendEmailInput {
  emailId: string;
  /** ISO time; the workflow sleeps (durably) until then. */
  sendAt?: string;
}

export type Step = 'scheduled' | 'checking' | 'preparing' | 'delivering' | 'done';

export interface SendEmailState {
  step: Step;
  status: EmailStatus;
  /** The last failure the workflow saw (an activity that gave up); attempts in flight are on the pending activity. */
  lastError: string | null;
}

export interface SendEmailResult {
  status: EmailStatus;
}

export const stateQuery = defineQuery<SendEmailState>('state');

// The short database-only steps: retried until Postgres answers again (a
// database outage must not fail email), each attempt bounded.
const steps = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' },
});

export async function sendEmail({ emailId, sendAt }: SendEmailInput): Promise<SendEmailResult> {
  const state: SendEmailState = { step: 'checking', status: 'queued', lastError: null };
  setHandler(stateQuery, () => state);
  const enter = (step: Step, status: EmailStatus) => {
    state.step = step;
    if (state.status !== status) upsertSearchAttributes({ [EmailStatusKey.name]: [status] });
    state.status = status;
  };
  const finish = (status: EmailStatus): SendEmailResult => {
    enter('done', status);
    return { status };
  };

  try {
    if (sendAt) {
      const wait = new Date(sendAt).getTime() - Date.now(); // workflow time: deterministic
      if (wait > 0) {
        enter('scheduled', 'scheduled');
        await sleep(wait);
      }
    }

    enter('checking', 'queued');
    const check = await steps.blockCheck(emailId);
    if (check.outcome === 'final') return finish(check.status);
    if (check.outcome === 'blocked') return finish('blocked');

    enter('preparing', 'queued');
    const plan = await steps.prepare(emailId);
    if (plan.outcome === 'final') return finish(plan.status);

    enter('delivering', 'sending');
    const { deliver } = proxyActivities<Activities>({
      taskQueue: plan.deliverTaskQueue,
      startToCloseTimeout: plan.policy.startToCloseMs,
      heartbeatTimeout: plan.policy.heartbeatMs,
      // Wait for the attempt to acknowledge a cancel: it may be mid-send, and
      // only after it stops do we know whether the email went out.
      cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
      retry: {
        initialInterval: plan.policy.initialIntervalMs,
        backoffCoefficient: plan.policy.backoffCoefficient,
        maximumInterval: plan.policy.maximumIntervalMs,
        maximumAttempts: plan.policy.maximumAttempts,
        nonRetryableErrorTypes: ['EmailNotFound'],
      },
    });
    let delivered: DeliverResult;
    try {
      delivered = await deliver(emailId);
    } catch (err) {
      if (isCancellation(err)) throw err;
      state.lastError = failureMessage(err);
      // Permanent SMTP refusal or retry budget spent: `failed` (unless it was sent after all).
      const status = await steps.markFailed(emailId);
      if (status === 'sent') return finish('sent');
      enter('done', status);
      // Failing the run (not completing it) lets an operator start a new run
      // under the same workflow id (reuse policy ALLOW_DUPLICATE_FAILED_ONLY).
      throw ApplicationFailure.nonRetryable(`email ${emailId} failed: ${state.lastError}`, 'EmailFailed');
    }
    return finish(delivered.outcome === 'sent' ? 'sent' : delivered.status);
  } catch (err) {
    if (!isCancellation(err)) throw err;
    // Cancelled (before or during delivery): record it unless the email already went out.
    const status = await CancellationScope.nonCancellable(() => steps.markCancelled(emailId));
    enter('done', status);
    if (status === 'sent') return { status };
    throw err;
  }
}

function failureMessage(err: unknown): string {
  const cause = err instanceof ActivityFailure ? err.cause : err;
  return cause instanceof Error ? cause.message : String(cause);
}
