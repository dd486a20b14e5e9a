// prepare: builds the MIME message from the record and its attachments (read
// from Postgres, never from workflow history) with nodemailer's composer,
// checks it composes, and hands the workflow the plan for delivery: which task
// queue and which retry policy, from this worker's configuration. The plan
// lands in history, so a replay uses the same one.
// It writes nothing: a commit here would cost every email an fsync on the
// way to the SMTP server (deliver records the size it sent, with the flag).
//
// The plan also says how the first attempt runs: as a local activity in the
// worker that runs the workflow (no task-queue round trip through the server)
// unless EMAIL_RATE_LIMIT is set — the server's task-queue rate limit only
// counts activities it dispatches, so a rate-limited worker sends every
// attempt as the regular `deliver` activity on the deliver queue.
import { createHash } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/activity';
import MailComposer from 'nodemailer/lib/mail-composer/index.js';
import { deliverTaskQueue, type DeliverPolicy } from '../config.ts';
import { mailOptions } from '../email/mail-options.ts';
import { FINAL_STATUSES, type EmailStatus } from '../email/status.ts';
import { loadForSending } from '../email/store.ts';
import type { ActivityDeps } from './deps.ts';

export type PrepareResult =
  | { outcome: 'ready'; deliverTaskQueue: string; policy: DeliverPolicy; firstAttempt?: FirstAttempt }
  | { outcome: 'final'; status: EmailStatus };

/** Where the first delivery attempt runs (absent in plans recorded before it existed: `activity`). */
export type FirstAttempt = 'local' | 'activity';

export function createPrepare({ db, config }: ActivityDeps) {
  return async function prepare(emailId: string): Promise<PrepareResult> {
    const loaded = await loadForSending(db, emailId);
    if (!loaded) throw ApplicationFailure.nonRetryable(`email ${emailId} does not exist`, 'EmailNotFound');
    const { email, attachments } = loaded;
    if (FINAL_STATUSES.includes(email.status)) return { outcome: 'final', status: email.status };
    for (const [position, a] of attachments.entries()) {
      // The bytes must be the ones accepted at submission. The failure goes
      // into history, so it names the attachment by position, not filename.
      if (createHash('sha256').update(a.content).digest('hex') !== a.checksum) {
        throw ApplicationFailure.nonRetryable(
          `attachment ${position} of email ${emailId} does not match its checksum`,
          'AttachmentCorrupt',
        );
      }
    }
    try {
      await new MailComposer(mailOptions(email, attachments)).compile().build();
    } catch (err) {
      // The composer's message may quote the content; history gets its code only.
      const code = (err as { code?: unknown }).code;
      throw ApplicationFailure.nonRetryable(
        `email ${emailId} cannot be composed${typeof code === 'string' ? ` (${code})` : ''}`,
        'EmailInvalid',
      );
    }
    return {
      outcome: 'ready',
      deliverTaskQueue: deliverTaskQueue(config.temporal.taskQueue),
      policy: config.deliver,
      firstAttempt: config.worker.rateLimitPerSecond ? 'activity' : 'local',
    };
  };
}
