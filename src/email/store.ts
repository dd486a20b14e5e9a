// The email record in Postgres: how it is written (all or nothing, before any
// workflow exists) and read back by the activities.
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import type { Db, Tables } from '../db/schema.ts';
import { IdempotencyConflictError } from '../errors.ts';
import type { PriorityColumns } from './priority.ts';
import type { EmailStatus } from './status.ts';
import type { Address, NormalizedAttachment, NormalizedEmail } from './validation.ts';

export { EMAIL_STATUSES, FINAL_STATUSES, type EmailStatus } from './status.ts';

export { IdempotencyConflictError };

/**
 * An email's record. Once its content is purged (`purgedAt` set, see
 * retention.ts) `from` and `subject` are null, the address lists and headers
 * empty, the bodies null; ids, status, sent flag and Message-ID remain.
 */
export interface EmailRecord {
  id: string;
  createdOn: Date;
  /** Null (as are `subject` and `messageId`, and `to` is empty) while a message submitted through SQL awaits validation, and when it was rejected. */
  from: Address | null;
  to: Address[];
  cc: Address[];
  bcc: Address[];
  replyTo: Address[];
  subject: string | null;
  text: string | null;
  html: string | null;
  headers: Record<string, string>;
  sendAt: Date | null;
  status: EmailStatus;
  sent: boolean;
  sentAt: Date | null;
  messageId: string | null;
  smtpResponse: string | null;
  attempts: number;
  lastError: string | null;
  blockReason: unknown;
  workflowId: string;
  idempotencyKey: string | null;
  /** When its content was purged; null while it is kept. */
  purgedAt: Date | null;
  /** Why the validator refused a message submitted through SQL (status `rejected`). */
  rejection: { field: string; reason: string } | null;
}

export function workflowIdFor(emailId: string): string {
  return `email-${emailId}`;
}

export function messageIdFor(emailId: string, from: Address, domain: string | undefined): string {
  const right = domain ?? from.address.slice(from.address.lastIndexOf('@') + 1);
  return `<${emailId}@${right}>`;
}

/** Every recipient (to, cc, bcc) once, lower-cased: the rows of email_recipients. */
export function recipientsOf(email: NormalizedEmail): string[] {
  return [...new Set([...email.to, ...email.cc, ...email.bcc].map((a) => a.address.toLowerCase()))];
}

export interface InsertResult {
  id: string;
  workflowId: string;
  created: boolean;
}

/**
 * Writes the email, its recipients and attachments atomically. Without
 * attachments (nearly every email) that is one statement, which Postgres runs
 * as its own transaction: one round trip on send()'s path instead of four
 * (BEGIN, two inserts, COMMIT). Attachments need an explicit transaction.
 */
export async function insertEmail(
  { pool, t }: Db,
  email: NormalizedEmail,
  options: {
    idempotencyKey?: string;
    sendAt?: Date;
    payloadHash: string;
    messageIdDomain?: string;
    priority?: PriorityColumns;
  },
): Promise<InsertResult> {
  const id = randomUUID();
  const workflowId = workflowIdFor(id);
  const recipients = recipientsOf(email);
  const client = email.attachments.length ? await pool.connect() : undefined;
  try {
    if (client) await client.query('BEGIN');
    // The recipients are written only when the email is (the CTE yields no row on an idempotency-key conflict).
    const inserted = await (client ?? pool).query<{ id: string; created_on: Date }>(
      `WITH e AS (
         INSERT INTO ${t.emails} (id, idempotency_key, payload_hash, sender, to_addrs, cc_addrs, bcc_addrs, reply_to,
                             subject, text_body, html_body, headers, send_at, status, message_id, workflow_id,
                             priority_key, fairness_key, fairness_weight)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $18, $19, $20)
         ON CONFLICT (idempotency_key) DO NOTHING
         RETURNING id, created_on
       ), r AS (
         INSERT INTO ${t.recipients} (email_id, address, created_on)
         SELECT e.id, unnest($17::text[]), e.created_on FROM e
       )
       SELECT id, created_on FROM e`,
      [
        id,
        options.idempotencyKey ?? null,
        options.payloadHash,
        JSON.stringify(email.from),
        JSON.stringify(email.to),
        JSON.stringify(email.cc),
        JSON.stringify(email.bcc),
        JSON.stringify(email.replyTo),
        email.subject,
        email.text,
        email.html,
        JSON.stringify(email.headers),
        options.sendAt ?? null,
        options.sendAt && options.sendAt.getTime() > Date.now() ? 'scheduled' : 'queued',
        messageIdFor(id, email.from, options.messageIdDomain),
        workflowId,
        recipients,
        options.priority?.priority_key ?? null,
        options.priority?.fairness_key ?? null,
        options.priority?.fairness_weight ?? null,
      ],
    );
    if (!inserted.rows[0]) {
      // The key exists: same payload → the same email; another payload → refuse.
      if (client) await client.query('ROLLBACK');
      const existing = await pool.query<{ id: string; workflow_id: string; payload_hash: string }>(
        `SELECT id, workflow_id, payload_hash FROM ${t.emails} WHERE idempotency_key = $1`,
        [options.idempotencyKey],
      );
      const found = existing.rows[0];
      // Only the record purge deletes rows, and only past EMAIL_RECORD_RETENTION: a
      // retried send() then creates a new email under the key.
      if (!found) throw new Error('idempotency key vanished during insert');
      if (found.payload_hash !== options.payloadHash) throw new IdempotencyConflictError(options.idempotencyKey!);
      return { id: found.id, workflowId: found.workflow_id, created: false };
    }
    if (client) {
      await insertAttachments(client, t, id, email.attachments);
      await client.query('COMMIT');
    }
    return { id, workflowId, created: true };
  } catch (err) {
    await client?.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    client?.release();
  }
}

async function insertAttachments(
  client: pg.PoolClient,
  t: Tables,
  emailId: string,
  attachments: NormalizedAttachment[],
): Promise<void> {
  for (const [position, a] of attachments.entries()) {
    await client.query(
      `INSERT INTO ${t.attachments} (email_id, position, filename, content_type, content, size, checksum, content_id)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
      [emailId, position, a.filename, a.contentType, a.content, a.size, a.checksum, a.cid],
    );
  }
}

/** A row of `emails` as pg returns it (`SELECT *`). */
export interface EmailRow {
  id: string;
  created_on: Date;
  sender: Address | null;
  to_addrs: Address[];
  cc_addrs: Address[];
  bcc_addrs: Address[];
  reply_to: Address[];
  subject: string | null;
  text_body: string | null;
  html_body: string | null;
  headers: Record<string, string>;
  send_at: Date | null;
  status: EmailStatus;
  email_has_been_sent: boolean;
  sent_at: Date | null;
  message_id: string | null;
  smtp_response: string | null;
  attempts: number;
  last_error: string | null;
  block_reason: unknown;
  workflow_id: string;
  idempotency_key: string | null;
  purged_at: Date | null;
  rejection: { field: string; reason: string } | null;
}

export function fromRow(r: EmailRow): EmailRecord {
  return {
    id: r.id,
    createdOn: r.created_on,
    from: r.sender,
    to: r.to_addrs,
    cc: r.cc_addrs,
    bcc: r.bcc_addrs,
    replyTo: r.reply_to,
    subject: r.subject,
    text: r.text_body,
    html: r.html_body,
    headers: r.headers,
    sendAt: r.send_at,
    status: r.status,
    sent: r.email_has_been_sent,
    sentAt: r.sent_at,
    messageId: r.message_id,
    smtpResponse: r.smtp_response,
    attempts: r.attempts,
    lastError: r.last_error,
    blockReason: r.block_reason,
    workflowId: r.workflow_id,
    idempotencyKey: r.idempotency_key,
    purgedAt: r.purged_at ?? null,
    rejection: r.rejection ? { field: r.rejection.field, reason: r.rejection.reason } : null,
  };
}

export async function loadEmail({ pool, t }: Db, id: string): Promise<EmailRecord | undefined> {
  const { rows } = await pool.query<EmailRow>(`SELECT * FROM ${t.emails} WHERE id = $1`, [id]);
  return rows[0] && fromRow(rows[0]);
}

/** Select-list column `has_attachments` for a query over `emails e`: read the attachments only when true. */
export function hasAttachments(t: Tables): string {
  return `EXISTS (SELECT 1 FROM ${t.attachments} a WHERE a.email_id = e.id) AS has_attachments`;
}

/**
 * The record and its attachments, as the steps that build the message need
 * them: one query when there are none, as for nearly every email (attachments
 * are written with the record and never change, so the flag cannot go stale).
 */
export async function loadForSending(
  db: Db,
  id: string,
): Promise<{ email: EmailRecord; attachments: NormalizedAttachment[] } | undefined> {
  const { rows } = await db.pool.query<EmailRow & { has_attachments: boolean }>(
    `SELECT e.*, ${hasAttachments(db.t)} FROM ${db.t.emails} e WHERE e.id = $1`,
    [id],
  );
  const row = rows[0];
  if (!row) return undefined;
  return { email: fromRow(row), attachments: row.has_attachments ? await loadAttachments(db, id) : [] };
}

export async function loadAttachments({ pool, t }: Db, id: string): Promise<NormalizedAttachment[]> {
  const { rows } = await pool.query<{
    filename: string;
    content_type: string;
    content: Buffer;
    size: number;
    checksum: string;
    content_id: string | null;
  }>(
    `SELECT filename, content_type, content, size, checksum, content_id FROM ${t.attachments} WHERE email_id = $1 ORDER BY position`,
    [id],
  );
  return rows.map((r) => ({
    filename: r.filename,
    contentType: r.content_type,
    content: r.content,
    size: r.size,
    checksum: r.checksum,
    cid: r.content_id,
  }));
}

export async function listEmails(
  { pool, t }: Db,
  { status, limit = 50 }: { status?: EmailStatus; limit?: number } = {},
): Promise<EmailRecord[]> {
  const { rows } = await pool.query<EmailRow>(
    `SELECT * FROM ${t.emails} WHERE ($1::text IS NULL OR status = $1) ORDER BY created_on DESC, id DESC LIMIT $2`,
    [status ?? null, limit],
  );
  return rows.map(fromRow);
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export function isEmailId(value: string): boolean {
  return UUID.test(value);
}
