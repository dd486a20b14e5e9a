// deliver: at most one SMTP send per email, whatever Temporal does.
//  1. The sent flag in Postgres is checked first: a retry after success returns.
//  2. A compare-and-set claim admits one attempt at a time: Temporal may start
//     a retry while a timed-out attempt still runs on another worker, and the
//     two must never both send. A claim expires only when its holder stopped
//     refreshing it (crashed), a heartbeat timeout plus a margin later.
//  3. After the server accepted the message, the flag, sent_at, the reply and
//     the status are written in one guarded update, retried on the spot: the
//     gap between "accepted" and "recorded" is the one place a duplicate can
//     come from, so it is kept as short as possible.
import { randomUUID } from 'node:crypto';
import { ApplicationFailure, CancelledFailure, Context } from '@temporalio/activity';
import { mailOptions } from '../email/mail-options.ts';
import { FINAL_STATUSES, loadAttachments, loadEmail, type EmailStatus } from '../email/store.ts';
import type { ActivityDeps } from './deps.ts';
import { classifySmtpError } from './smtp-errors.ts';

export type DeliverResult = { outcome: 'sent'; alreadySent: boolean } | { outcome: 'final'; status: EmailStatus };

/** Temporal history is plain text: keep addresses out of failure messages (Postgres keeps the full reply). */
export function redactAddresses(text: string): string {
  return text.replace(/[^\s<>"'(),;:]+@[^\s<>"'(),;:]+/g, '<address>');
}

export function createDeliver({ pool, transport, config }: ActivityDeps) {
  const claimTtlSeconds = Math.ceil(config.deliver.heartbeatMs / 1000) + 5;

  async function recordSent(emailId: string, response: string): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await pool.query(
          `UPDATE emails SET email_has_been_sent = true, sent_at = clock_timestamp(), smtp_response = $2, status = 'sent',
                  last_error = NULL, delivery_claim = NULL, updated_at = clock_timestamp()
            WHERE id = $1 AND NOT email_has_been_sent`,
          [emailId, response],
        );
        return;
      } catch (err) {
        if (attempt >= 6) throw err;
        Context.current().heartbeat({ recording: attempt });
        await new Promise((r) => setTimeout(r, 250 * 2 ** attempt));
      }
    }
  }

  return async function deliver(emailId: string): Promise<DeliverResult> {
    const ctx = Context.current();
    const claim = randomUUID();
    const claimed = await pool.query(
      `UPDATE emails SET delivery_claim = $2, delivery_claimed_at = clock_timestamp(), status = 'sending',
              attempts = attempts + 1, updated_at = clock_timestamp()
        WHERE id = $1 AND NOT email_has_been_sent AND status NOT IN ('sent', 'blocked', 'failed', 'cancelled')
          AND (delivery_claim IS NULL OR delivery_claimed_at < clock_timestamp() - make_interval(secs => $3))
        RETURNING id`,
      [emailId, claim, claimTtlSeconds],
    );
    if (!claimed.rowCount) {
      const current = await loadEmail(pool, emailId);
      if (!current) throw ApplicationFailure.nonRetryable(`email ${emailId} does not exist`, 'EmailNotFound');
      if (current.sent) return { outcome: 'sent', alreadySent: true };
      if (FINAL_STATUSES.includes(current.status)) return { outcome: 'final', status: current.status };
      throw ApplicationFailure.retryable(`another delivery attempt of email ${emailId} is in flight`, 'DeliveryInProgress');
    }

    const release = (fields: string, values: unknown[]) =>
      pool.query(`UPDATE emails SET ${fields}, delivery_claim = NULL, updated_at = clock_timestamp() WHERE id = $1 AND delivery_claim = $2`, [emailId, claim, ...values]);

    if (ctx.cancellationSignal.aborted) {
      await release('status = status', []);
      throw new CancelledFailure('delivery cancelled before sending');
    }
    const email = await loadEmail(pool, emailId);
    const attachments = await loadAttachments(pool, emailId);
    // Heartbeats let Temporal notice a dead worker in seconds rather than at the
    // start-to-close timeout; refreshing the claim keeps a slow send's claim alive.
    ctx.heartbeat();
    const ticker = setInterval(() => {
      ctx.heartbeat();
      pool.query('UPDATE emails SET delivery_claimed_at = clock_timestamp() WHERE id = $1 AND delivery_claim = $2', [emailId, claim]).catch(() => {});
    }, Math.max(200, Math.floor(config.deliver.heartbeatMs / 3)));
    let response: string;
    try {
      const info = (await transport.sendMail(mailOptions(email!, attachments))) as { response?: string };
      response = info.response ?? '';
    } catch (err) {
      clearInterval(ticker);
      const c = classifySmtpError(err);
      const detail = `${c.type}: ${c.message}`;
      if (c.kind === 'permanent') {
        await release("status = 'failed', last_error = $3, smtp_response = $4", [detail, c.message]);
        throw ApplicationFailure.nonRetryable(redactAddresses(detail), c.type);
      }
      await release('last_error = $3', [detail]);
      // The workflow schedules the next attempt; a throttling reply tells it to wait longer.
      throw ApplicationFailure.create({
        message: redactAddresses(detail),
        type: c.type,
        nonRetryable: false,
        details: c.retryAfterMs ? [{ retryAfterMs: c.retryAfterMs }] : [],
      });
    }
    clearInterval(ticker);
    await recordSent(emailId, response);
    return { outcome: 'sent', alreadySent: false };
  };
}
