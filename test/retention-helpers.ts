// Shared by the retention tests: records made old on purpose, and what a
// purged or intact email looks like in Postgres.
import { insertEmail } from '../src/email/store.ts';
import { type EmailInput } from '../src/email/input.ts';
import { payloadHash, validateSendInput } from '../src/email/validation.ts';
import type { TestEnv } from './helpers.ts';

/**
 * Moves emails `days` into the past: submission, last change and their
 * recipient rows alike (the `i`-th email `i` seconds earlier still, so the
 * purge's order is the list's order, oldest first).
 */
export async function age(env: TestEnv, ids: string[], days: number): Promise<void> {
  await env.pool.query(
    `UPDATE mailer.emails e SET created_on = e.created_on - make_interval(days => $2, secs => $3 - o.n),
                                updated_at = e.updated_at - make_interval(days => $2, secs => $3 - o.n)
       FROM unnest($1::uuid[]) WITH ORDINALITY o(id, n) WHERE e.id = o.id`,
    [ids, days, ids.length],
  );
  await env.pool.query(
    'UPDATE mailer.email_recipients r SET created_on = e.created_on FROM mailer.emails e WHERE r.email_id = e.id AND e.id = ANY($1)',
    [ids],
  );
}

/** A record written the way send() writes it, with no workflow (nothing will move it). */
export async function recordOnly(env: TestEnv, input: EmailInput, sendAt?: Date): Promise<string> {
  const email = validateSendInput(input);
  return (await insertEmail(env.db, email, { payloadHash: payloadHash(email, sendAt), ...(sendAt ? { sendAt } : {}) }))
    .id;
}

export interface Stored {
  purged: boolean;
  subject: string | null;
  attachments: number;
  recipients: number;
}

/** What Postgres holds of each email: its content and its child rows. */
export async function stored(env: TestEnv, ids: string[]): Promise<Map<string, Stored>> {
  const { rows } = await env.pool.query<{
    id: string;
    purged: boolean;
    subject: string | null;
    attachments: number;
    recipients: number;
  }>(
    `SELECT e.id, e.purged_at IS NOT NULL AS purged, e.subject,
            (SELECT count(*)::int FROM mailer.email_attachments a WHERE a.email_id = e.id) AS attachments,
            (SELECT count(*)::int FROM mailer.email_recipients r WHERE r.email_id = e.id) AS recipients
       FROM mailer.emails e WHERE e.id = ANY($1)`,
    [ids],
  );
  return new Map(
    rows.map((r) => [
      r.id,
      { purged: r.purged, subject: r.subject, attachments: r.attachments, recipients: r.recipients },
    ]),
  );
}

/** Whole or purged, never half: a purged email has no content and no child rows; a kept one has all of them. */
export function wholeOrPurged(s: Stored, expected: { attachments: number; recipients: number }): boolean {
  return s.purged
    ? s.subject === null && s.attachments === 0 && s.recipients === 0
    : s.subject !== null && s.attachments === expected.attachments && s.recipients === expected.recipients;
}
