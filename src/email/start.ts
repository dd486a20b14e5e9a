// Starting an email's workflow, the one way everyone does it (client, retry,
// reconcile), so the id and the policies can never drift apart. A start is
// bounded: a frozen or unreachable Temporal must not hold the caller (a web
// request, usually) — the email is already stored, and the reconciler starts
// it later.
import {
  type Client,
  isGrpcDeadlineError,
  isGrpcServiceError,
  WorkflowExecutionAlreadyStartedError,
} from '@temporalio/client';
import { NamespaceNotFoundError } from '@temporalio/common';
import { EmailStatusKey, SEND_EMAIL_WORKFLOW, type SendEmailInput } from '../contract.ts';
import type { ClientConfig } from '../config.ts';
import { type PriorityColumns, temporalPriority } from './priority.ts';
import { workflowIdFor } from './store.ts';

export type StartFailure =
  /** Temporal did not answer within the start deadline (MAILER_START_TIMEOUT). */
  | 'START_TIMEOUT'
  /** Temporal could not be reached or refused for a passing reason. */
  | 'TEMPORAL_UNAVAILABLE'
  /** The configuration names something Temporal does not have (e.g. the namespace): fix the settings. */
  | 'TEMPORAL_CONFIG';

export type StartOutcome = { started: true } | { started: false; code: StartFailure; reason: string };

/** Starts (or joins) the email's workflow within `timeoutMs`; never throws for Temporal's sake. */
export async function startEmailWorkflow(
  temporal: Client,
  config: Pick<ClientConfig, 'temporal' | 'startTimeoutMs'>,
  emailId: string,
  sendAt?: Date | null,
  timeoutMs = config.startTimeoutMs,
  /** The record's priority and fairness key: the workflow and its activities (deliver included) carry them. */
  priority?: PriorityColumns,
): Promise<StartOutcome> {
  const input: SendEmailInput = { emailId, ...(sendAt ? { sendAt: sendAt.toISOString() } : {}) };
  const taskPriority = temporalPriority(priority);
  try {
    await temporal.connection.withDeadline(Date.now() + timeoutMs, () =>
      temporal.workflow.start(SEND_EMAIL_WORKFLOW, {
        taskQueue: config.temporal.taskQueue,
        workflowId: workflowIdFor(emailId),
        args: [input],
        // A second start for the same email joins the running workflow, and a
        // completed email is never run again. Temporal remembers closed runs only
        // for the namespace's retention; the sent flag in Postgres is the guard after that.
        workflowIdConflictPolicy: 'USE_EXISTING',
        workflowIdReusePolicy: 'ALLOW_DUPLICATE_FAILED_ONLY',
        typedSearchAttributes: [{ key: EmailStatusKey, value: 'queued' }],
        staticSummary: `Email ${emailId}`,
        staticDetails: sendAt ? `Scheduled for ${sendAt.toISOString()}` : 'Send now',
        ...(taskPriority ? { priority: taskPriority } : {}),
      }),
    );
    return { started: true };
  } catch (err) {
    // Already ran to completion: nothing to start, and nothing lost.
    if (err instanceof WorkflowExecutionAlreadyStartedError) return { started: true };
    return { started: false, ...classifyStartError(err, config, timeoutMs) };
  }
}

function classifyStartError(
  err: unknown,
  config: Pick<ClientConfig, 'temporal'>,
  timeoutMs: number,
): { code: StartFailure; reason: string } {
  if (
    err instanceof NamespaceNotFoundError ||
    (isGrpcServiceError(err) && err.code === 5 && /namespace/i.test(err.details))
  ) {
    return {
      code: 'TEMPORAL_CONFIG',
      reason: `TEMPORAL_NAMESPACE: namespace "${config.temporal.namespace}" not found on ${config.temporal.address}`,
    };
  }
  if (isGrpcDeadlineError(err))
    return {
      code: 'START_TIMEOUT',
      reason: `Temporal at ${config.temporal.address} did not answer within ${timeoutMs} ms`,
    };
  const message = err instanceof Error ? err.message : String(err);
  return { code: 'TEMPORAL_UNAVAILABLE', reason: `Temporal at ${config.temporal.address}: ${message}` };
}
