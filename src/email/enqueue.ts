// Writing many emails at once, or inside the caller's transaction: emails,
// recipients, attachments (and outbox rows) in ONE statement on whatever
// connection is given. One statement is atomic on its own, so the same code
// serves the caller's client inside `BEGIN … COMMIT` (nothing here issues
// BEGIN, COMMIT or ROLLBACK on it) and a connection of our own.
// send() alone keeps its own single-row statement (store.ts): it is the
// measured hot path, and it writes no outbox row because it starts its
// workflow itself right after its commit.
import { randomUUID } from 'node:crypto';
import type { Queryable, Tables } from '../db/schema.ts';
import { IdempotencyConflictError } from '../errors.ts';
import { type InsertResult, messageIdFor, recipientsOf, workflowIdFor } from './store.ts';
import type { PriorityColumns } from './priority.ts';
import type { NormalizedEmail } from './validation.ts';

export interface EnqueueItem {
  email: NormalizedEmail;
  payloadHash: string;
  idempotencyKey?: string | undefined;
  sendAt?: Date | undefined;
  /** Priority and fairness key, carried by the workflow the relay starts. */
  priority?: PriorityColumns | undefined;
}

export interface EnqueueOptions {
  /** Leave each new email in the outbox for the relay to start (after the surrounding transaction commits). */
  outbox: boolean;
  messageIdDomain?: string | undefined;
}

/**
 * Inserts every item in one statement and returns one result per item, in
 * order. An idempotency key already used returns that email when the payload
 * is the same, and throws IdempotencyConflictError when it is not: the other
 * items of the call are then written in the caller's transaction, which must
 * be rolled back (as after any failed statement in it).
 */
export async function insertEmails(
  q: Queryable,
  t: Tables,
  items: readonly EnqueueItem[],
  options: EnqueueOptions,
): Promise<InsertResult[]> {
  if (!items.length) return [];
  const now = Date.now();
  const rows = items.map((item) => ({ ...item, id: randomUUID() }));
  const col = <T>(fn: (r: (typeof rows)[number]) => T) => rows.map(fn);
  const json = (v: unknown) => JSON.stringify(v);
  const recipients = rows.flatMap((r) => recipientsOf(r.email).map((address) => ({ id: r.id, address })));
  const attachments = rows.flatMap((r) => r.email.attachments.map((a, position) => ({ id: r.id, position, ...a })));
  const inserted = await q.query<{ id: string }>(
    `WITH i AS (
       SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::jsonb[], $5::jsonb[], $6::jsonb[], $7::jsonb[], $8::jsonb[],
                            $9::text[], $10::text[], $11::text[], $12::jsonb[], $13::timestamptz[], $14::text[], $15::text[], $16::text[],
                            $27::smallint[], $28::text[], $29::real[])
         WITH ORDINALITY AS i(id, idempotency_key, payload_hash, sender, to_addrs, cc_addrs, bcc_addrs, reply_to,
                             subject, text_body, html_body, headers, send_at, status, message_id, workflow_id,
                             priority_key, fairness_key, fairness_weight, n)
     ), e AS (
       INSERT INTO ${t.emails} (id, idempotency_key, payload_hash, sender, to_addrs, cc_addrs, bcc_addrs, reply_to,
                                subject, text_body, html_body, headers, send_at, status, message_id, workflow_id,
                                priority_key, fairness_key, fairness_weight)
       SELECT id, idempotency_key, payload_hash, sender, to_addrs, cc_addrs, bcc_addrs, reply_to,
              subject, text_body, html_body, headers, send_at, status, message_id, workflow_id,
              priority_key, fairness_key, fairness_weight FROM i ORDER BY n
       ON CONFLICT (idempotency_key) DO NOTHING
       RETURNING id, created_on
     ), r AS (
       INSERT INTO ${t.recipients} (email_id, address, created_on)
       SELECT e.id, x.address, e.created_on FROM e JOIN unnest($17::uuid[], $18::text[]) AS x(email_id, address) ON x.email_id = e.id
     ), a AS (
       INSERT INTO ${t.attachments} (email_id, position, filename, content_type, content, size, checksum, content_id)
       SELECT x.* FROM unnest($19::uuid[], $20::int[], $21::text[], $22::text[], $23::bytea[], $24::int[], $25::text[], $26::text[])
                   AS x(email_id, position, filename, content_type, content, size, checksum, content_id)
        WHERE x.email_id IN (SELECT id FROM e)
     )${options.outbox ? `, o AS (INSERT INTO ${t.outbox} (email_id) SELECT id FROM e)` : ''}
     SELECT id FROM e`,
    [
      col((r) => r.id),
      col((r) => r.idempotencyKey ?? null),
      col((r) => r.payloadHash),
      col((r) => json(r.email.from)),
      col((r) => json(r.email.to)),
      col((r) => json(r.email.cc)),
      col((r) => json(r.email.bcc)),
      col((r) => json(r.email.replyTo)),
      col((r) => r.email.subject),
      col((r) => r.email.text),
      col((r) => r.email.html),
      col((r) => json(r.email.headers)),
      col((r) => r.sendAt ?? null),
      col((r) => (r.sendAt && r.sendAt.getTime() > now ? 'scheduled' : 'queued')),
      col((r) => messageIdFor(r.id, r.email.from, options.messageIdDomain)),
      col((r) => workflowIdFor(r.id)),
      recipients.map((x) => x.id),
      recipients.map((x) => x.address),
      attachments.map((x) => x.id),
      attachments.map((x) => x.position),
      attachments.map((x) => x.filename),
      attachments.map((x) => x.contentType),
      attachments.map((x) => x.content),
      attachments.map((x) => x.size),
      attachments.map((x) => x.checksum),
      attachments.map((x) => x.cid),
      col((r) => r.priority?.priority_key ?? null),
      col((r) => r.priority?.fairness_key ?? null),
      col((r) => r.priority?.fairness_weight ?? null),
    ],
  );
  const created = new Set(inserted.rows.map((r) => r.id));
  const conflicting = rows.filter((r) => !created.has(r.id)).map((r) => r.idempotencyKey!);
  // On the same connection: inside the caller's transaction this sees its own
  // earlier inserts as well as every committed email.
  const existing = new Map<string, { id: string; workflow_id: string; payload_hash: string }>();
  if (conflicting.length) {
    const found = await q.query<{ id: string; workflow_id: string; payload_hash: string; idempotency_key: string }>(
      `SELECT id, workflow_id, payload_hash, idempotency_key FROM ${t.emails} WHERE idempotency_key = ANY($1::text[])`,
      [conflicting],
    );
    for (const f of found.rows) existing.set(f.idempotency_key, f);
  }
  return rows.map((r) => {
    if (created.has(r.id)) return { id: r.id, workflowId: workflowIdFor(r.id), created: true };
    const found = existing.get(r.idempotencyKey!);
    if (!found) throw new Error('idempotency key vanished during insert'); // rows are never deleted by the service
    if (found.payload_hash !== r.payloadHash) throw new IdempotencyConflictError(r.idempotencyKey!);
    return { id: found.id, workflowId: found.workflow_id, created: false };
  });
}
