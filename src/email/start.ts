// Starting an email's workflow, the one way everyone does it (client, retry,
// reconcile), so the id and the policies can never drift apart.
import { type Client, WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import type { Config } from '../config.ts';
import { EmailStatus } from '../search-attributes.ts';
import type { sendEmail } from '../workflows/send-email.ts';
import { workflowIdFor } from './store.ts';

/** Starts (or joins) the email's workflow; false when Temporal did not accept it. */
export async function startEmailWorkflow(temporal: Client, config: Config, emailId: string, sendAt?: Date | null): Promise<boolean> {
  try {
    await temporal.workflow.start<typeof sendEmail>('sendEmail', {
      taskQueue: config.temporal.taskQueue,
      workflowId: workflowIdFor(emailId),
      args: [{ emailId, ...(sendAt ? { sendAt: sendAt.toISOString() } : {}) }],
      // A second start for the same email joins the running workflow, and a
      // completed email is never run again. Temporal remembers closed runs only
      // for the namespace's retention; the sent flag in Postgres is the guard after that.
      workflowIdConflictPolicy: 'USE_EXISTING',
      workflowIdReusePolicy: 'ALLOW_DUPLICATE_FAILED_ONLY',
      typedSearchAttributes: [{ key: EmailStatus, value: 'queued' }],
      staticSummary: `Email ${emailId}`,
      staticDetails: sendAt ? `Scheduled for ${sendAt.toISOString()}` : 'Send now',
    });
    return true;
  } catch (err) {
    // Already ran to completion: nothing to start, and nothing lost.
    if (err instanceof WorkflowExecutionAlreadyStartedError) return true;
    return false;
  }
}
