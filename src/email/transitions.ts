// Every change of an email's record, in one place: the "never sent twice" state
// machine. Each transition is one guarded statement named for what it does;
// its WHERE clause is the guard, so a transition that no longer applies (the
// email was sent meanwhile, another attempt holds the claim) changes nothing
// and says so. The sent flag is the last word: no transition un-sends an email.
//
//   queued/scheduled ──blockCheck──▶ blocked
//   queued/scheduled/sending ──claimDelivery──▶ sending (claim held)
//   sending ──recordSent──▶ sent            ──releaseFailed──▶ failed (5xx)
//           ──releaseForRetry──▶ sending (claim released, last error kept)
//           ──holdForOperator──▶ sending, held_since set (policy hold)
//   not sent ──finalize──▶ failed | cancelled
//   held ──markSentByOperator──▶ sent
//   failed ──requeueFailed──▶ queued (a new run)
//   submitted through SQL (no Message-ID yet) ──admitSubmission──▶ the columns filled, still queued/scheduled
//                                             ──rejectSubmission──▶ rejected (final)
import type { Db, Queryable, Tables } from '../db/schema.ts';
import { type EmailStatus, sqlList, FINAL_STATUSES, UNFINISHED_STATUSES } from './status.ts';
import { type EmailRow, hasAttachments, recipientsOf } from './store.ts';
import type { NormalizedEmail } from './validation.ts';

const NOT_FINAL = sqlList(UNFINISHED_STATUSES);
const FINAL = sqlList(FINAL_STATUSES);

export type ClaimedRow = EmailRow & { took_over: boolean; has_attachments: boolean };

/**
 * Compare-and-set claim of the one delivery attempt allowed in flight. Taken
 * when nobody holds it or its holder stopped refreshing it for `ttlSeconds`
 * (crashed). Taking over a live-looking claim means the previous attempt may
 * have been accepted by the server: recorded as `possibly_delivered`. Returns
 * the record too (it does not change after submission), or undefined when the
 * claim was not taken.
 */
export async function claimDelivery(
  db: Db, emailId: string, claim: string, ttlSeconds: number, onUncertain: 'resend' | 'hold',
): Promise<ClaimedRow | undefined> {
  const { t } = db;
  const { rows } = await db.pool.query<ClaimedRow>(
    `UPDATE ${t.emails} e SET delivery_claim = $2, delivery_claimed_at = clock_timestamp(), status = 'sending',
            attempts = e.attempts + 1, held_since = NULL, updated_at = clock_timestamp(),
            possibly_delivered = e.possibly_delivered OR prev.delivery_claim IS NOT NULL,
            uncertain_resends = e.uncertain_resends + (prev.delivery_claim IS NOT NULL AND $4 = 'resend')::int
       FROM (SELECT id, delivery_claim FROM ${t.emails} WHERE id = $1 FOR UPDATE) prev
      WHERE e.id = prev.id AND NOT e.email_has_been_sent AND e.status NOT IN ${FINAL}
        AND (e.delivery_claim IS NULL OR e.delivery_claimed_at < clock_timestamp() - make_interval(secs => $3))
      RETURNING e.*, prev.delivery_claim IS NOT NULL AS took_over, ${hasAttachments(t)}`,
    [emailId, claim, ttlSeconds, onUncertain],
  );
  return rows[0];
}

/** A live attempt keeps its claim fresh (every heartbeat). */
export async function refreshClaim(db: Db, emailId: string, claim: string): Promise<void> {
  await db.pool.query(`UPDATE ${db.t.emails} SET delivery_claimed_at = clock_timestamp() WHERE id = $1 AND delivery_claim = $2`, [emailId, claim]);
}

/** Policy `hold`: give the claim back and wait for an operator's decision. */
export async function holdForOperator(db: Db, emailId: string, claim: string): Promise<void> {
  await db.pool.query(
    `UPDATE ${db.t.emails} SET delivery_claim = NULL, held_since = clock_timestamp(), updated_at = clock_timestamp()
      WHERE id = $1 AND delivery_claim = $2`,
    [emailId, claim],
  );
}

/** Nothing was sent by this attempt: give the claim back, keeping the reason for the next one. */
export async function releaseForRetry(db: Db, emailId: string, claim: string, lastError: string | null): Promise<void> {
  await db.pool.query(
    `UPDATE ${db.t.emails} SET last_error = coalesce($3, last_error), delivery_claim = NULL, updated_at = clock_timestamp()
      WHERE id = $1 AND delivery_claim = $2`,
    [emailId, claim, lastError],
  );
}

/** The server refused the message for good (5xx): `failed`, with its reply. */
export async function releaseFailed(db: Db, emailId: string, claim: string, lastError: string, smtpResponse: string): Promise<void> {
  await db.pool.query(
    `UPDATE ${db.t.emails} SET status = 'failed', last_error = $3, smtp_response = $4, delivery_claim = NULL, updated_at = clock_timestamp()
      WHERE id = $1 AND delivery_claim = $2`,
    [emailId, claim, lastError, smtpResponse],
  );
}

/** The server accepted the message: the flag, the time, the reply and `sent`, in one guarded update. */
export async function recordSent(db: Db, emailId: string, response: string, size: number | undefined): Promise<void> {
  await db.pool.query(
    `UPDATE ${db.t.emails} SET email_has_been_sent = true, sent_at = clock_timestamp(), smtp_response = $2, status = 'sent',
            mime_size = coalesce($3, mime_size), last_error = NULL, delivery_claim = NULL, held_since = NULL,
            updated_at = clock_timestamp()
      WHERE id = $1 AND NOT email_has_been_sent`,
    [emailId, response, size ?? null],
  );
}

/** blockCheck's verdict; only an email not yet attempted can be blocked. False when it had moved on. */
export async function markBlocked(db: Db, emailId: string, reason: unknown): Promise<boolean> {
  const { rowCount } = await db.pool.query(
    `UPDATE ${db.t.emails} SET status = 'blocked', block_reason = $2, updated_at = clock_timestamp()
      WHERE id = $1 AND status IN ('queued', 'scheduled')`,
    [emailId, JSON.stringify(reason)],
  );
  return rowCount === 1;
}

/**
 * `failed` (retry budget spent) or `cancelled` (the workflow was cancelled),
 * unless the email was sent after all. Returns the status it ends with.
 */
export async function finalize(db: Db, emailId: string, target: 'failed' | 'cancelled'): Promise<EmailStatus> {
  const { t } = db;
  const { rows } = await db.pool.query<{ status: EmailStatus }>(
    `WITH changed AS (
       UPDATE ${t.emails} SET status = $2, delivery_claim = NULL, updated_at = clock_timestamp()
        WHERE id = $1 AND NOT email_has_been_sent AND status IN ${NOT_FINAL}
        RETURNING status)
     SELECT status FROM changed UNION ALL SELECT status FROM ${t.emails} WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM changed)`,
    [emailId, target],
  );
  return rows[0]?.status ?? target;
}

/** No workflow to ask (never started, or gone): the record alone decides, guarded by the sent flag. */
export async function cancelUnstarted(db: Db, emailId: string): Promise<boolean> {
  const { rowCount } = await db.pool.query(
    `UPDATE ${db.t.emails} SET status = 'cancelled', updated_at = clock_timestamp()
      WHERE id = $1 AND NOT email_has_been_sent AND status IN ('queued', 'scheduled')`,
    [emailId],
  );
  return rowCount === 1;
}

/** An operator confirmed that the uncertain attempt was delivered. */
export async function markSentByOperator(db: Db, emailId: string): Promise<void> {
  await db.pool.query(
    `UPDATE ${db.t.emails} SET email_has_been_sent = true, sent_at = clock_timestamp(), status = 'sent', held_since = NULL,
            smtp_response = 'marked as sent by an operator after an uncertain delivery', updated_at = clock_timestamp()
      WHERE id = $1 AND NOT email_has_been_sent`,
    [emailId],
  );
}

/** A failed email goes back to `queued` for a new run; undefined when it is not failed (or was sent). */
export async function requeueFailed(db: Db, emailId: string): Promise<{ workflow_id: string; send_at: Date | null } | undefined> {
  const { rows } = await db.pool.query<{ workflow_id: string; send_at: Date | null }>(
    `UPDATE ${db.t.emails} SET status = 'queued', delivery_claim = NULL, updated_at = clock_timestamp()
      WHERE id = $1 AND status = 'failed' AND NOT email_has_been_sent RETURNING workflow_id, send_at`,
    [emailId],
  );
  return rows[0];
}

/**
 * A message submitted through SQL passed the validator: its columns, Message-ID,
 * recipients and attachments are written and the raw message dropped, in one
 * statement. False when the email had moved on (cancelled before validation).
 */
export async function admitSubmission(db: Db, emailId: string, email: NormalizedEmail, messageId: string): Promise<boolean> {
  const { t } = db;
  const a = email.attachments;
  const { rows } = await db.pool.query<{ n: number }>(
    `WITH e AS (
       UPDATE ${t.emails} SET sender = $2, to_addrs = $3, cc_addrs = $4, bcc_addrs = $5, reply_to = $6, subject = $7,
              text_body = $8, html_body = $9, headers = $10, message_id = $11, updated_at = clock_timestamp()
        WHERE id = $1 AND message_id IS NULL AND status IN ('queued', 'scheduled')
        RETURNING id, created_on
     ), r AS (
       INSERT INTO ${t.recipients} (email_id, address, created_on) SELECT e.id, unnest($12::text[]), e.created_on FROM e
     ), a AS (
       INSERT INTO ${t.attachments} (email_id, position, filename, content_type, content, size, checksum, content_id)
       SELECT e.id, x.* FROM e, unnest($13::int[], $14::text[], $15::text[], $16::bytea[], $17::int[], $18::text[], $19::text[]) AS x
     ), s AS (
       DELETE FROM ${t.submissions} WHERE email_id IN (SELECT id FROM e)
     )
     SELECT count(*)::int AS n FROM e`,
    [
      emailId, JSON.stringify(email.from), JSON.stringify(email.to), JSON.stringify(email.cc), JSON.stringify(email.bcc),
      JSON.stringify(email.replyTo), email.subject, email.text, email.html, JSON.stringify(email.headers), messageId, recipientsOf(email),
      a.map((_, i) => i), a.map((x) => x.filename), a.map((x) => x.contentType), a.map((x) => x.content), a.map((x) => x.size),
      a.map((x) => x.checksum), a.map((x) => x.cid),
    ],
  );
  return rows[0]?.n === 1;
}

/** The validator refused a message submitted through SQL: `rejected`, final, with the field and the reason (the raw message is kept). */
export async function rejectSubmission(db: Db, emailId: string, field: string, reason: string): Promise<boolean> {
  const { rowCount } = await db.pool.query(
    `UPDATE ${db.t.emails} SET status = 'rejected', last_error = $2, rejection = $3, updated_at = clock_timestamp()
      WHERE id = $1 AND message_id IS NULL AND status IN ('queued', 'scheduled')`,
    [emailId, `${field}: ${reason}`, JSON.stringify({ field, reason })],
  );
  return rowCount === 1;
}

export type { Db, Queryable, Tables };
