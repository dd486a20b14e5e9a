// The event log (migrations/0003_events.sql): one row per change of an email's
// final or operator-relevant state, written by a trigger in the transaction
// that made the change, and announced with NOTIFY on `<schema>_events`.
// This module reads it; nothing here writes an event.
import type { Db } from '../db/schema.ts';

export const EVENT_TYPES = ['sent', 'failed', 'blocked', 'cancelled', 'rejected', 'held', 'retrying'] as const;
export type EmailEventType = (typeof EVENT_TYPES)[number];

export const WEBHOOK_STATES = ['pending', 'delivered', 'refused', 'expired'] as const;
export type WebhookState = (typeof WEBHOOK_STATES)[number];

/** What an app receives (webhook body) and reads: ids, the type, the time and details without any message content. */
export interface EmailEvent {
  /** Increases with every event; an email's events in this order are its history. Use it to de-duplicate. */
  id: string;
  emailId: string;
  type: EmailEventType;
  occurredAt: string;
  details: Record<string, unknown>;
}

/** An event with its webhook delivery, for operators. */
export interface EmailEventRecord extends EmailEvent {
  webhook: {
    state: WebhookState;
    attempts: number;
    lastError: string | null;
    nextAttemptAt: string | null;
    doneAt: string | null;
  };
}

/** The NOTIFY channel of a schema's events (payload: `{"id","emailId","type"}`). */
export function eventChannel(schema: string): string {
  return `${schema}_events`;
}

export interface EventRow {
  id: string;
  email_id: string;
  type: EmailEventType;
  occurred_at: Date;
  details: Record<string, unknown>;
  webhook: WebhookState;
  webhook_attempts: number;
  webhook_next_at: Date;
  webhook_last_error: string | null;
  webhook_done_at: Date | null;
}

export function toEvent(r: EventRow): EmailEvent {
  return { id: r.id, emailId: r.email_id, type: r.type, occurredAt: r.occurred_at.toISOString(), details: r.details };
}

function toRecord(r: EventRow): EmailEventRecord {
  return {
    ...toEvent(r),
    webhook: {
      state: r.webhook,
      attempts: r.webhook_attempts,
      lastError: r.webhook_last_error,
      nextAttemptAt: r.webhook === 'pending' ? r.webhook_next_at.toISOString() : null,
      doneAt: r.webhook_done_at?.toISOString() ?? null,
    },
  };
}

export interface ListEventsOptions {
  emailId?: string;
  webhook?: WebhookState;
  /** Only events with a greater id (a reader's cursor). */
  after?: string;
  limit?: number;
}

/** Events oldest first, by email, webhook state or after a cursor. */
export async function listEvents(
  { pool, t }: Db,
  { emailId, webhook, after, limit = 100 }: ListEventsOptions = {},
): Promise<EmailEventRecord[]> {
  const { rows } = await pool.query<EventRow>(
    `SELECT * FROM (
       SELECT * FROM ${t.events}
        WHERE ($1::uuid IS NULL OR email_id = $1) AND ($2::text IS NULL OR webhook = $2) AND ($3::bigint IS NULL OR id > $3)
        ORDER BY id ${after === undefined ? 'DESC' : 'ASC'} LIMIT $4) e
      ORDER BY id`,
    [emailId ?? null, webhook ?? null, after ?? null, limit],
  );
  return rows.map(toRecord);
}

export interface WebhookSummary {
  counts: Record<WebhookState, number>;
  oldestPending: {
    id: string;
    occurredAt: string;
    attempts: number;
    lastError: string | null;
    nextAttemptAt: string;
  } | null;
  lastRefused: { id: string; emailId: string; type: EmailEventType; lastError: string | null; at: string | null }[];
}

/** What `mailer webhooks` shows: how many events are in each state, what is holding up, and what the receiver refused. */
export async function webhookSummary({ pool, t }: Db): Promise<WebhookSummary> {
  const [counts, oldest, refused] = await Promise.all([
    pool.query<{ webhook: WebhookState; n: number }>(
      `SELECT webhook, count(*)::int AS n FROM ${t.events} GROUP BY webhook`,
    ),
    pool.query<EventRow>(`SELECT * FROM ${t.events} WHERE webhook = 'pending' ORDER BY id LIMIT 1`),
    pool.query<EventRow>(
      `SELECT * FROM ${t.events} WHERE webhook = 'refused' ORDER BY webhook_done_at DESC, id DESC LIMIT 10`,
    ),
  ]);
  const summary: WebhookSummary = {
    counts: { pending: 0, delivered: 0, refused: 0, expired: 0 },
    oldestPending: null,
    lastRefused: [],
  };
  for (const r of counts.rows) summary.counts[r.webhook] = r.n;
  const o = oldest.rows[0];
  if (o)
    summary.oldestPending = {
      id: o.id,
      occurredAt: o.occurred_at.toISOString(),
      attempts: o.webhook_attempts,
      lastError: o.webhook_last_error,
      nextAttemptAt: o.webhook_next_at.toISOString(),
    };
  summary.lastRefused = refused.rows.map((r) => ({
    id: r.id,
    emailId: r.email_id,
    type: r.type,
    lastError: r.webhook_last_error,
    at: r.webhook_done_at?.toISOString() ?? null,
  }));
  return summary;
}

/** The channel the webhook sender also listens on, for work that is not a new event (a redelivery). */
export function webhookChannel(schema: string): string {
  return `${schema}_webhooks`;
}

/** Puts refused or expired events back in line (after the receiver was fixed), and wakes the sender; returns how many. */
export async function redeliverEvents({ pool, t }: Db, schema: string, ids: string[]): Promise<number> {
  const { rowCount } = await pool.query(
    `UPDATE ${t.events} SET webhook = 'pending', webhook_attempts = 0, webhook_next_at = clock_timestamp(), webhook_done_at = NULL
      WHERE id = ANY($1::bigint[]) AND webhook IN ('refused', 'expired')`,
    [ids],
  );
  if (rowCount) await pool.query('SELECT pg_notify($1, $2)', [webhookChannel(schema), 'redeliver']);
  return rowCount ?? 0;
}
