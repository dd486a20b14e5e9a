// One workflow per email, id `email-<record id>`. Only the email id (and the
// optional send time) enters history; addresses, bodies and attachments stay
// in Postgres. Steps: optional durable wait until send_at → blockCheck →
// prepare → deliver. Postgres remains the truth for the email's status; the
// workflow keeps its own view for queries, search attributes and the Web UI.
//
// Delivery retries are driven here, not by the activity's server-side retry
// policy: each attempt is one activity execution, and between attempts the
// workflow sleeps durably with EmailStatus=retrying, the attempt number and
// the error class upserted. Out of the box a retrying activity shows only
// "Running" in the Web UI; this makes a stuck email findable by a filter. The
// common path (first attempt succeeds) costs no extra events.
import {
  ActivityCancellationType,
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  condition,
  isCancellation,
  log,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setCurrentDetails,
  setHandler,
  sleep,
  TimeoutFailure,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import type { Activities, DeliverResult } from '../activities/index.ts';
import type { DeliverPolicy } from '../config.ts';
import {
  EmailAttempt,
  EmailErrorClass,
  EmailStatusKey,
  resolveSignal,
  stateQuery,
  type Resolution,
  type SendEmailInput,
  type SendEmailResult,
  type SendEmailState,
  type Step,
  type WorkflowEmailStatus,
} from '../contract.ts';
import type { EmailStatus } from '../email/status.ts';

export {
  resolveSignal,
  stateQuery,
  type Resolution,
  type SendEmailInput,
  type SendEmailResult,
  type SendEmailState,
  type Step,
} from '../contract.ts';

/** Patch id of the local first delivery attempt: histories recorded before it replay the regular activity. */
export const LOCAL_FIRST_ATTEMPT = 'local-first-delivery-attempt';

// The short database-only steps: retried until Postgres answers again (a
// database outage must not fail email), each attempt bounded.
const stepOptions = {
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' },
} as const;
// blockCheck and prepare run as local activities: they are quick database
// reads in the worker that runs the workflow task, recorded as one marker
// each, instead of a round trip through the server with three events and a
// workflow task apiece (see the README's performance section for the figures).
// Both are idempotent, which is what a local activity needs: a worker crash
// mid-task re-runs them.
const local = proxyLocalActivities<Activities>(stepOptions);
// The rare final-state steps stay regular activities, visible in the Web UI.
const steps = proxyActivities<Activities>(stepOptions);

interface AttemptFailure {
  type: string;
  message: string;
  nonRetryable: boolean;
  retryAfterMs: number | undefined;
}

function attemptFailure(err: unknown): AttemptFailure {
  const cause = err instanceof ActivityFailure ? err.cause : err;
  if (cause instanceof ApplicationFailure) {
    const detail = cause.details?.[0] as { retryAfterMs?: number } | undefined;
    return {
      type: cause.type ?? 'Error',
      message: cause.message,
      nonRetryable: cause.nonRetryable === true,
      retryAfterMs: detail?.retryAfterMs,
    };
  }
  if (cause instanceof TimeoutFailure) {
    // A dead or partitioned worker: the attempt's claim expires and a new attempt may send.
    return {
      type: 'ActivityTimeout',
      message: `delivery attempt timed out (${cause.timeoutType})`,
      nonRetryable: false,
      retryAfterMs: undefined,
    };
  }
  return {
    type: 'Error',
    message: cause instanceof Error ? cause.message : String(cause),
    nonRetryable: false,
    retryAfterMs: undefined,
  };
}

/** Backoff before attempt `attempt + 1`: initial × coefficient^(attempt-1), capped. */
export function retryDelayMs(policy: DeliverPolicy, attempt: number): number {
  return Math.min(policy.initialIntervalMs * policy.backoffCoefficient ** (attempt - 1), policy.maximumIntervalMs);
}

export async function sendEmail({ emailId, sendAt }: SendEmailInput): Promise<SendEmailResult> {
  const state: SendEmailState = {
    step: 'checking',
    status: 'queued',
    attempt: 0,
    lastError: null,
    lastErrorClass: null,
    nextAttemptAt: null,
  };
  setHandler(stateQuery, () => state);
  let resolution: Resolution | undefined;
  setHandler(resolveSignal, ({ decision }) => {
    // Only a held email waits for a decision; a stray signal must not steer a later one.
    if (state.step === 'held' && (decision === 'sent' || decision === 'resend')) resolution = decision;
  });
  // The search attribute shows what an operator filters on. `queued` → `sending`
  // on the first attempt is not worth an event (the email is seconds from
  // `sent`); every other change is upserted.
  let shown: WorkflowEmailStatus = 'queued';
  const enter = (step: Step, status: WorkflowEmailStatus) => {
    // Replay-safe (the SDK drops it during replay); ids and states only.
    log.info('email step', {
      emailId,
      step,
      status,
      attempt: state.attempt,
      errorClass: state.lastErrorClass ?? undefined,
    });
    state.step = step;
    state.status = status;
    if (status !== shown && !(status === 'sending' && shown === 'queued')) {
      upsertSearchAttributes([{ key: EmailStatusKey, value: status }]);
      shown = status;
    }
    setCurrentDetails(describe(state));
  };
  const finish = (status: EmailStatus): SendEmailResult => {
    state.nextAttemptAt = null;
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
    const check = await local.blockCheck(emailId);
    if (check.outcome === 'final') return finish(check.status);
    if (check.outcome === 'blocked') return finish('blocked');

    enter('preparing', 'queued');
    const plan = await local.prepare(emailId);
    if (plan.outcome === 'final') return finish(plan.status);

    const { deliver } = proxyActivities<Activities>({
      taskQueue: plan.deliverTaskQueue,
      startToCloseTimeout: plan.policy.startToCloseMs,
      heartbeatTimeout: plan.policy.heartbeatMs,
      // Wait for an attempt to acknowledge a cancel: it may be mid-send, and
      // only after it stops do we know whether the email went out.
      cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
      retry: { maximumAttempts: 1 }, // retries are this workflow's loop below
    });
    // The first attempt as a local activity, when the plan allows it (no rate
    // limit): it runs in this workflow task, recorded as one marker, with no
    // activity task through the server. Every later attempt is the regular,
    // heartbeating, rate-limited `deliver`, with its retry state visible.
    const firstHere = plan.firstAttempt === 'local' && patched(LOCAL_FIRST_ATTEMPT);
    const { deliver: deliverHere } = proxyLocalActivities<Activities>({
      startToCloseTimeout: plan.policy.startToCloseMs,
      cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
      retry: { maximumAttempts: 1 },
    });
    let delivered: DeliverResult;
    for (;;) {
      state.attempt++;
      state.nextAttemptAt = null;
      enter('delivering', state.attempt === 1 ? 'sending' : 'retrying');
      try {
        delivered = await (firstHere && state.attempt === 1 ? deliverHere : deliver)(emailId, plan.policy.onUncertain);
      } catch (err) {
        if (isCancellation(err)) throw err;
        const failure = attemptFailure(err);
        state.lastError = failure.message;
        state.lastErrorClass = failure.type;
        const budget = plan.policy.maximumAttempts;
        if (failure.nonRetryable || (budget > 0 && state.attempt >= budget)) {
          // Permanent SMTP refusal or retry budget spent: `failed` (unless it was sent after all).
          const status = await steps.markFailed(emailId);
          if (status === 'sent') return finish('sent');
          finish(status);
          // Failing the run (not completing it) lets an operator start a new run
          // under the same workflow id (reuse policy ALLOW_DUPLICATE_FAILED_ONLY).
          throw ApplicationFailure.nonRetryable(
            `email ${emailId} failed after ${state.attempt} attempt(s): ${failure.message}`,
            'EmailFailed',
          );
        }
        const delay = Math.max(retryDelayMs(plan.policy, state.attempt), failure.retryAfterMs ?? 0);
        state.nextAttemptAt = new Date(Date.now() + delay).toISOString();
        upsertSearchAttributes([
          { key: EmailAttempt, value: state.attempt },
          { key: EmailErrorClass, value: failure.type },
        ]);
        enter('waiting-to-retry', 'retrying');
        await sleep(delay);
        continue;
      }
      if (delivered.outcome !== 'uncertain') break;
      // Policy `hold`: an attempt died after the server may have accepted the
      // message. Wait (durably, as long as it takes) for an operator's decision.
      state.lastError = 'an earlier attempt may have been delivered: its worker stopped before recording the result';
      state.lastErrorClass = 'UncertainDelivery';
      resolution = undefined;
      enter('held', 'held');
      await condition(() => resolution !== undefined);
      if (resolution === 'sent') {
        await steps.markSentByOperator(emailId);
        return finish('sent');
      }
    }
    return finish(delivered.outcome === 'sent' ? 'sent' : delivered.status);
  } catch (err) {
    if (!isCancellation(err)) throw err;
    // Cancelled (before or during delivery): record it unless the email already went out.
    const status = await CancellationScope.nonCancellable(() => steps.markCancelled(emailId));
    finish(status);
    if (status === 'sent') return { status };
    throw err;
  }
}

/** The Web UI's "current details": where the email stands, without personal data. */
function describe(s: SendEmailState): string {
  const lines = [`**${s.status}** — step: ${s.step}`];
  if (s.attempt) lines.push(`delivery attempt ${s.attempt}`);
  if (s.lastError) lines.push(`last error (${s.lastErrorClass}): ${s.lastError}`);
  if (s.nextAttemptAt) lines.push(`next attempt at ${s.nextAttemptAt}`);
  return lines.join('\n\n');
}
