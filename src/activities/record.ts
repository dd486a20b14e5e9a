// Final state changes the workflow asks for. Each is guarded by the sent flag
// (src/email/transitions.ts): an email that reached the server is `sent`,
// whatever else was requested.
import { log } from '@temporalio/activity';
import type { EmailStatus } from '../email/status.ts';
import { finalize, markSentByOperator } from '../email/transitions.ts';
import type { ActivityDeps } from './deps.ts';

export function createRecordActivities({ db, metrics }: ActivityDeps) {
  return {
    /** Delivery gave up (retry budget spent): the email is `failed`, with the last error already recorded. */
    async markFailed(emailId: string): Promise<EmailStatus> {
      const status = await finalize(db, emailId, 'failed');
      if (status === 'failed') {
        metrics.failed();
        log.info('email failed', { emailId, outcome: status });
      }
      return status;
    },
    /** The workflow was cancelled: `cancelled` unless it was already sent. */
    markCancelled: (emailId: string) => finalize(db, emailId, 'cancelled'),
    /** An operator confirmed that the uncertain attempt was delivered. */
    markSentByOperator: (emailId: string) => markSentByOperator(db, emailId),
  };
}
