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
//   failed (not purged) ──requeueFailed──▶ queued (a new run)
//   submitted through SQL (no Message-ID yet) ──admitSubmission──▶ the columns filled, still queued/scheduled
//                                             ──rejectSubmission──▶ rejected (final)
//   final, long enough ──purgeContent──▶ the same status, content gone (purged_at)
//   final, longer still ──deleteExpiredRecords──▶ no row (opt-in: idempotency ends there)
import type { Db, Queryable, Tables } from '../db/schema.ts';
import { PRIORITY_COLUMNS, type PriorityColumns } from './priority.ts';
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
  db: Db,
  emailId: string,
  claim: string,
  ttlSeconds: number,
  onUncertain: 'resend' | 'hold',
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
  await db.pool.query(
    `UPDATE ${db.t.emails} SET delivery_claimed_at = clock_timestamp() WHERE id = $1 AND delivery_claim = $2`,
    [emailId, claim],
  );
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
export async function releaseFailed(
  db: Db,
  emailId: string,
  claim: string,
  lastError: string,
  smtpResponse: string,
): Promise<void> {
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

/** A failed email goes back to `queued` for a new run; undefined when it is not failed, was sent, or has no content left to send. */
export async function requeueFailed(
  db: Db,
  emailId: string,
): Promise<({ workflow_id: string; send_at: Date | null } & PriorityColumns) | undefined> {
  const { rows } = await db.pool.query<{ workflow_id: string; send_at: Date | null } & PriorityColumns>(
    `UPDATE ${db.t.emails} SET status = 'queued', delivery_claim = NULL, updated_at = clock_timestamp()
      WHERE id = $1 AND status = 'failed' AND NOT email_has_been_sent AND purged_at IS NULL RETURNING workflow_id, send_at, ${PRIORITY_COLUMNS}`,
    [emailId],
  );
  return rows[0];
}

/**
 * An address inside free text, as deliver's redaction finds it
 * (redactAddresses): SMTP replies and errors outlive a purge without them.
 */
const ADDRESS_PATTERN = `[^\\s<>"'(),;:]+@[^\\s<>"'(),;:]+`;

/** The widest per-recipient window in force, in minutes (0 when there is no limit): a CTE yielding `mins`. */
export function limitWindow(t: Tables, configMinutes: string): string {
  return `SELECT greatest(${configMinutes}::int, coalesce((SELECT window_minutes FROM ${t.limits} WHERE scope = 'per_recipient'), 0)) AS mins`;
}

/**
 * True when no per-recipient limit can still count email `e`'s recipients
 * (`w.mins` from limitWindow): blockCheck counts the rows to an address
 * submitted within the window before the email it judges, so a row is needed
 * while a new email could be submitted inside its window, or while an email
 * not yet judged (queued, scheduled: judged at its own submission time,
 * however late it runs) to the same address lies inside it.
 */
export function outsideLimitWindows(t: Tables, e: string): string {
  return `${e}.created_on < clock_timestamp() - make_interval(mins => w.mins)
      AND NOT EXISTS (
        SELECT 1 FROM ${t.recipients} r
          JOIN ${t.recipients} n ON n.address = r.address AND n.email_id <> r.email_id
           AND n.created_on >= r.created_on AND n.created_on <= r.created_on + make_interval(mins => w.mins)
          JOIN ${t.emails} ne ON ne.id = n.email_id AND ne.status IN ('queued', 'scheduled')
         WHERE r.email_id = ${e}.id)`;
}

/** Email `e` is due for a content purge: final for `$1` seconds, not purged, outside every limit window. */
export function contentPurgeDue(t: Tables, e: string): string {
  // Same predicate as the partial index emails_purge_due, so the scan starts where the work is.
  return `${e}.purged_at IS NULL AND ${e}.status IN ${FINAL}
      AND ${e}.updated_at < clock_timestamp() - make_interval(secs => $1)
      AND ${outsideLimitWindows(t, e)}`;
}

/** Email `e` may be deleted: submitted and final `$1` seconds ago, outside every limit window. */
export function recordDeletionDue(t: Tables, e: string): string {
  // created_on leads (emails_created is its index); updated_at ≥ created_on says it has been final as long.
  return `${e}.status IN ${FINAL} AND ${e}.created_on < clock_timestamp() - make_interval(secs => $1)
      AND ${e}.updated_at < clock_timestamp() - make_interval(secs => $1)
      AND ${outsideLimitWindows(t, e)}`;
}

export interface PurgeBatch {
  /** Seconds an email must have been final (content) or submitted and final (records). */
  afterSeconds: number;
  batchSize: number;
  /** The configuration's per-recipient window (minutes, 0 for none); the stored limit counts too. */
  configWindowMinutes: number;
}

/**
 * One batch of the content purge, in one statement (one transaction): the
 * bodies, subject, headers and addresses go, attachments and recipient rows
 * are deleted, addresses are cut out of the SMTP reply, the last error and the
 * block reason. The row keeps what "never sent twice" and idempotency need.
 * `updated_at` is left alone: it still says when the email became final.
 * Returns how many emails it purged.
 */
export async function purgeContent(db: Db, batch: PurgeBatch): Promise<number> {
  const { t } = db;
  const { rowCount } = await db.pool.query(
    `WITH w AS (${limitWindow(t, '$3')}),
     due AS (
       SELECT e.id FROM ${t.emails} e, w WHERE ${contentPurgeDue(t, 'e')}
        ORDER BY e.updated_at LIMIT $2
        FOR UPDATE OF e),
     attachments AS (DELETE FROM ${t.attachments} a USING due WHERE a.email_id = due.id),
     recipients AS (DELETE FROM ${t.recipients} r USING due WHERE r.email_id = due.id),
     -- A rejected SQL submission keeps its raw message until here.
     submissions AS (DELETE FROM ${t.submissions} s USING due WHERE s.email_id = due.id)
     UPDATE ${t.emails} e SET sender = NULL, to_addrs = '[]', cc_addrs = '[]', bcc_addrs = '[]', reply_to = '[]',
            subject = NULL, text_body = NULL, html_body = NULL, headers = '{}',
            smtp_response = regexp_replace(e.smtp_response, $4, '<address>', 'g'),
            last_error = regexp_replace(e.last_error, $4, '<address>', 'g'),
            block_reason = CASE WHEN e.block_reason IS NULL THEN NULL ELSE jsonb_strip_nulls(jsonb_build_object(
              'rule', e.block_reason->'rule', 'limit', e.block_reason->'limit', 'judgedAt', e.block_reason->'judgedAt',
              'entries', jsonb_array_length(coalesce(e.block_reason->'matches', e.block_reason->'notAllowed', e.block_reason->'over', '[]'::jsonb)),
              'purged', true)) END,
            purged_at = clock_timestamp()
       FROM due WHERE e.id = due.id AND e.purged_at IS NULL AND e.status IN ${FINAL}`,
    [batch.afterSeconds, batch.batchSize, batch.configWindowMinutes, ADDRESS_PATTERN],
  );
  return rowCount ?? 0;
}

/**
 * One batch of the second horizon (EMAIL_RECORD_RETENTION, off by default):
 * whole final records go, with their recipients and attachments. After this
 * the email's idempotency key is free again and its status is unknown.
 */
export async function deleteExpiredRecords(db: Db, batch: PurgeBatch): Promise<number> {
  const { t } = db;
  const { rowCount } = await db.pool.query(
    `WITH w AS (${limitWindow(t, '$3')}),
     due AS (
       SELECT e.id FROM ${t.emails} e, w WHERE ${recordDeletionDue(t, 'e')}
        ORDER BY e.created_on LIMIT $2
        FOR UPDATE OF e)
     DELETE FROM ${t.emails} e USING due WHERE e.id = due.id AND e.status IN ${FINAL}`,
    [batch.afterSeconds, batch.batchSize, batch.configWindowMinutes],
  );
  return rowCount ?? 0;
}

/**
 * A message submitted through SQL passed the validator: its columns, Message-ID,
 * recipients and attachments are written and the raw message dropped, in one
 * statement. False when the email had moved on (cancelled before validation).
 */
export async function admitSubmission(
  db: Db,
  emailId: string,
  email: NormalizedEmail,
  messageId: string,
): Promise<boolean> {
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
      emailId,
      JSON.stringify(email.from),
      JSON.stringify(email.to),
      JSON.stringify(email.cc),
      JSON.stringify(email.bcc),
      JSON.stringify(email.replyTo),
      email.subject,
      email.text,
      email.html,
      JSON.stringify(email.headers),
      messageId,
      recipientsOf(email),
      a.map((_, i) => i),
      a.map((x) => x.filename),
      a.map((x) => x.contentType),
      a.map((x) => x.content),
      a.map((x) => x.size),
      a.map((x) => x.checksum),
      a.map((x) => x.cid),
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
