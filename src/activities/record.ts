// Final state changes the workflow asks for. Each is guarded by the sent flag:
// an email that reached the server is `sent`, whatever else was requested.
import type { EmailStatus } from '../email/store.ts';
import { log } from '@temporalio/activity';
import type { ActivityDeps } from './deps.ts';
import { metrics } from './metrics.ts';

async function finalStatus(deps: ActivityDeps, emailId: string, target: 'failed' | 'cancelled'): Promise<EmailStatus> {
  const { rows } = await deps.pool.query<{ status: EmailStatus }>(
    `WITH changed AS (
       UPDATE emails SET status = $2, delivery_claim = NULL, updated_at = clock_timestamp()
        WHERE id = $1 AND NOT email_has_been_sent AND status IN ('queued', 'scheduled', 'sending')
        RETURNING status)
     SELECT status FROM changed UNION ALL SELECT status FROM emails WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM changed)`,
    [emailId, target],
  );
  return rows[0]?.status ?? target;
}

export function createRecordActivities(deps: ActivityDeps) {
  return {
    /** Delivery gave up (retry budget spent): the email is `failed`, with the last error already recorded. */
    async markFailed(emailId: string): Promise<EmailStatus> {
      const status = await finalStatus(deps, emailId, 'failed');
      if (status === 'failed') {
        metrics.failed({});
        log.info('email failed', { emailId, outcome: status });
      }
      return status;
    },
    /** The workflow was cancelled: `cancelled` unless it was already sent. */
    markCancelled: (emailId: string) => finalStatus(deps, emailId, 'cancelled'),
    /** An operator confirmed that the uncertain attempt was delivered. */
    async markSentByOperator(emailId: string): Promise<void> {
      await deps.pool.query(
        `UPDATE emails SET email_has_been_sent = true, sent_at = clock_timestamp(), status = 'sent', held_since = NULL,
                smtp_response = 'marked as sent by an operator after an uncertain delivery', updated_at = clock_timestamp()
          WHERE id = $1 AND NOT email_has_been_sent`,
        [emailId],
      );
    },
  };
}
