// The email workflow's contract, declared once: its type name, input, result,
// the `state` query, the `resolve` signal and the search attributes it keeps.
// The workflow, the client, the operator commands and the tests all use these
// handles; nobody names a query or a signal by string. Plain definitions (no
// @temporalio/workflow at run time), so the light client can import them.
import type { QueryDefinition, SignalDefinition } from '@temporalio/common';
import type { EmailStatus } from './email/status.ts';
import type { WorkflowEmailStatus } from './search-attributes.ts';

export {
  EmailAttempt,
  EmailErrorClass,
  EmailStatus as EmailStatusKey,
  SEARCH_ATTRIBUTES,
  type WorkflowEmailStatus,
} from './search-attributes.ts';

/** The workflow type, as registered by the worker (`sendEmail` in src/workflows/send-email.ts). */
export const SEND_EMAIL_WORKFLOW = 'sendEmail';

export interface SendEmailInput {
  emailId: string;
  /** ISO time; the workflow sleeps (durably) until then. */
  sendAt?: string;
}

export interface SendEmailResult {
  status: EmailStatus;
}

export type Step = 'scheduled' | 'checking' | 'preparing' | 'delivering' | 'waiting-to-retry' | 'held' | 'done';

export interface SendEmailState {
  step: Step;
  status: WorkflowEmailStatus;
  /** Delivery attempts started by this run. */
  attempt: number;
  lastError: string | null;
  lastErrorClass: string | null;
  /** When the next delivery attempt starts, while waiting to retry. */
  nextAttemptAt: string | null;
}

/** Where the email stands, from the workflow's own view. */
export const stateQuery = { type: 'query', name: 'state' } as QueryDefinition<SendEmailState, [], 'state'>;

export type Resolution = 'sent' | 'resend';
/**
 * An operator's decision for a held email (policy `hold`): it was `sent` by the
 * attempt that died (the recipient has it), or `resend` it. `mailer resolve`.
 */
export const resolveSignal = { type: 'signal', name: 'resolve' } as SignalDefinition<
  [{ decision: Resolution }],
  'resolve'
>;
