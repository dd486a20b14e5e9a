// deliver: at most one SMTP send per email, whatever Temporal does.
//  1. The sent flag in Postgres is checked first: a retry after success returns.
//  2. A compare-and-set claim admits one attempt at a time: Temporal may start
//     a retry while a timed-out attempt still runs on another worker, and the
//     two must never both send. A claim expires only when its holder stopped
//     refreshing it (crashed), a heartbeat timeout plus a margin later.
//  3. After the server accepted the message, the flag, sent_at, the reply and
//     the status are written in one guarded update, retried on the spot (for
//     as long as the attempt may live): the gap between "accepted" and
//     "recorded" is the one place a duplicate can come from, so it is kept as
//     short as possible.
//  4. An attempt that takes over an expired claim knows the previous attempt
//     died mid-delivery and may have been accepted: it records
//     `possibly_delivered`, then either resends with the same Message-ID
//     (policy `resend`: at-least-once, receivers can de-duplicate) or stops
//     and lets the workflow wait for an operator (policy `hold`).
import { randomUUID } from 'node:crypto';
import { ApplicationFailure, CancelledFailure, Context, log } from '@temporalio/activity';
import { mailOptions } from '../email/mail-options.ts';
import type { NormalizedAttachment } from '../email/validation.ts';
import { FINAL_STATUSES, type EmailStatus } from '../email/status.ts';
import { fromRow, loadAttachments, loadEmail } from '../email/store.ts';
import { suppressRefused } from '../email/suppressions.ts';
import {
  claimDelivery,
  holdForOperator,
  recordSent as recordSentRow,
  refreshClaim,
  releaseFailed,
  releaseForRetry,
} from '../email/transitions.ts';
import type { ActivityDeps } from './deps.ts';
import { addressRefusals, classifySmtpError } from './smtp-errors.ts';

export type DeliverResult =
  | { outcome: 'sent'; alreadySent: boolean; afterUncertain: boolean }
  | { outcome: 'final'; status: EmailStatus }
  /** Policy `hold`: an earlier attempt may have been delivered; nothing was sent now. */
  | { outcome: 'uncertain' };

/** Temporal history is plain text: keep addresses out of failure messages (Postgres keeps the full reply). */
export function redactAddresses(text: string): string {
  return text.replace(/[^\s<>"'(),;:]+@[^\s<>"'(),;:]+/g, '<address>');
}

export function createDeliver({ db, transport, config, metrics }: ActivityDeps) {
  // A live attempt refreshes its claim every heartbeat/3; one that has not for
  // a whole heartbeat timeout is dead (Temporal has given up on it too).
  const claimTtlSeconds = config.deliver.heartbeatMs / 1000 + 1;

  /** Records the send; keeps trying while the attempt lives, because giving up here is what makes duplicates. */
  async function recordSent(emailId: string, response: string, size: number | undefined): Promise<void> {
    const ctx = Context.current();
    for (let attempt = 1; ; attempt++) {
      try {
        await recordSentRow(db, emailId, response, size);
        return;
      } catch (err) {
        if (ctx.cancellationSignal.aborted) throw err;
        if (!ctx.info.isLocal) ctx.heartbeat({ recording: attempt });
        await new Promise((r) => setTimeout(r, Math.min(100 * 2 ** attempt, 2000)));
      }
    }
  }

  /** Addresses refused for good go on the suppression list; a failure here must not change what happens to the email. */
  async function suppress(emailId: string, result: unknown): Promise<void> {
    const refused = addressRefusals(result);
    if (!refused.length) return;
    try {
      const added = await suppressRefused(db, emailId, refused);
      log.info('recipients suppressed', { emailId, suppressed: added, outcome: 'suppressed' });
    } catch (err) {
      log.warn('recording suppressed recipients failed', { emailId, error: (err as Error).message });
    }
  }

  return async function deliver(
    emailId: string,
    onUncertain: 'resend' | 'hold' = config.deliver.onUncertain,
  ): Promise<DeliverResult> {
    const ctx = Context.current();
    const claim = randomUUID();
    // The claim returns the record too (it does not change after submission):
    // one round trip before the SMTP conversation starts, and nothing to read
    // between taking the claim and sending that could fail and strand it.
    const row = await claimDelivery(db, emailId, claim, claimTtlSeconds, onUncertain);
    if (!row) {
      const current = await loadEmail(db, emailId);
      if (!current) throw ApplicationFailure.nonRetryable(`email ${emailId} does not exist`, 'EmailNotFound');
      if (current.sent) return { outcome: 'sent', alreadySent: true, afterUncertain: false };
      if (FINAL_STATUSES.includes(current.status)) return { outcome: 'final', status: current.status };
      throw ApplicationFailure.retryable(
        `another delivery attempt of email ${emailId} is in flight`,
        'DeliveryInProgress',
      );
    }
    const tookOver = row.took_over;
    if (tookOver && onUncertain === 'hold') {
      // Do not guess: release the claim and let an operator decide (mailer resolve).
      await holdForOperator(db, emailId, claim);
      log.warn('earlier attempt may have been delivered: holding for an operator', { emailId, outcome: 'held' });
      return { outcome: 'uncertain' };
    }

    if (ctx.cancellationSignal.aborted) {
      await releaseForRetry(db, emailId, claim, null);
      throw new CancelledFailure('delivery cancelled before sending');
    }
    const email = fromRow(row);
    let attachments: NormalizedAttachment[] = [];
    try {
      if (row.has_attachments) attachments = await loadAttachments(db, emailId);
    } catch (err) {
      // Nothing was sent: give the claim back, or the next attempt would wait
      // for it to expire and then take this for a crash mid-delivery.
      await releaseForRetry(db, emailId, claim, `reading attachments: ${(err as Error).message}`).catch(() => {});
      throw err;
    }
    // Heartbeats let Temporal notice a dead worker in seconds rather than at the
    // start-to-close timeout; refreshing the claim keeps a slow send's claim alive.
    // No heartbeat at the start: the server's heartbeat timer already runs from
    // the moment the attempt started, and a send that ends within the first
    // tick (nearly all of them) would pay a server round trip and a history-
    // service update for nothing (measured: 2-4 ms of dev-server CPU per email).
    const ticker = setInterval(
      () => {
        // A local attempt has no server-side heartbeat: the workflow task it runs in is what times out.
        if (!ctx.info.isLocal) ctx.heartbeat();
        refreshClaim(db, emailId, claim).catch(() => {});
      },
      Math.max(200, Math.floor(config.deliver.heartbeatMs / 3)),
    );
    let response: string;
    let size: number | undefined;
    let info: { response?: string; messageSize?: number };
    try {
      info = (await transport.sendMail(mailOptions(email, attachments))) as { response?: string; messageSize?: number };
      response = info.response ?? '';
      size = info.messageSize; // bytes of the DATA stream, terminating ".\r\n" included
    } catch (err) {
      clearInterval(ticker);
      await suppress(emailId, err);
      const c = classifySmtpError(err);
      const detail = `${c.type}: ${c.message}`;
      if (c.kind === 'permanent') {
        log.info('delivery refused', { emailId, errorClass: c.type, responseCode: c.responseCode, outcome: 'failed' });
        await releaseFailed(db, emailId, claim, detail, c.message);
        throw ApplicationFailure.nonRetryable(redactAddresses(detail), c.type);
      }
      await releaseForRetry(db, emailId, claim, detail);
      metrics.retried(c.type);
      log.info('delivery attempt failed', { emailId, errorClass: c.type, outcome: 'retry' });
      // The workflow schedules the next attempt; a throttling reply tells it to wait longer.
      throw ApplicationFailure.create({
        message: redactAddresses(detail),
        type: c.type,
        nonRetryable: false,
        details: c.retryAfterMs ? [{ retryAfterMs: c.retryAfterMs }] : [],
      });
    }
    clearInterval(ticker);
    await recordSent(emailId, response, size);
    // Some recipients refused, the others took it: the email is sent, and the refused go on the list.
    await suppress(emailId, info);
    const since = Math.max(email.createdOn.getTime(), email.sendAt?.getTime() ?? 0);
    metrics.sent(Date.now() - since);
    log.info('email sent', { emailId, outcome: 'sent', afterUncertain: tookOver });
    return { outcome: 'sent', alreadySent: false, afterUncertain: tookOver };
  };
}
