// The suppression list: addresses never to send to again. A delivery adds an
// address the receiving server refused for good as an address (enhanced status
// 5.1.x: no such mailbox, no such domain), with the email that found it and
// the reply; the app adds the others (a provider's bounce or complaint webhook,
// an unsubscribe) and removes any. blockCheck then ends every later email to a
// suppressed address `blocked` (rule `suppressed`) before it reaches SMTP.
//
// 5.7.x policy refusals are deliberately not suppressed: they judge the sender
// or the message (SPF, DMARC, content filters, a blocklisted IP), not the
// address, and suppressing on them would silence valid recipients after one
// misconfiguration. The app can add such an address itself.
import { ConfigError, parseRulePattern } from '../config.ts';
import type { Db } from '../db/schema.ts';
import { ValidationError } from '../errors.ts';

export const SUPPRESSION_REASONS = ['bounce', 'complaint', 'unsubscribe', 'manual'] as const;
export type SuppressionReason = (typeof SUPPRESSION_REASONS)[number];

export interface Suppression {
  address: string;
  reason: SuppressionReason;
  /** The SMTP reply (bounce) or the app's note. */
  detail: string | null;
  /** The email whose delivery found it, when a delivery did. */
  emailId: string | null;
  createdAt: string;
}

/** A whole address, lower-cased; a domain is not an address here. */
export function suppressionAddress(value: unknown, field = 'address'): string {
  if (typeof value !== 'string') throw new ValidationError(field, 'must be an email address');
  try {
    const pattern = parseRulePattern(value, field);
    if (!pattern.startsWith('@')) return pattern;
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
  }
  throw new ValidationError(field, `"${value}" is not an email address (a@example.com)`);
}

export function suppressionReason(value: unknown, field = 'reason'): SuppressionReason {
  if (!SUPPRESSION_REASONS.includes(value as SuppressionReason))
    throw new ValidationError(field, `must be one of ${SUPPRESSION_REASONS.join(', ')}`);
  return value as SuppressionReason;
}

export interface SuppressOptions {
  reason: SuppressionReason;
  detail?: string;
  emailId?: string;
}

/** Adds (or, when already listed, keeps the first finding of) an address; `changed` says whether it was new. */
export async function addSuppression(
  { pool, t }: Db,
  address: string,
  { reason, detail, emailId }: SuppressOptions,
): Promise<{ address: string; changed: boolean }> {
  const a = suppressionAddress(address);
  const r = suppressionReason(reason);
  if (detail !== undefined && (typeof detail !== 'string' || detail.length > 1000))
    throw new ValidationError('detail', 'must be text of at most 1000 characters');
  const { rowCount } = await pool.query(
    `INSERT INTO ${t.suppressions} (address, reason, detail, email_id) VALUES ($1, $2, $3, $4) ON CONFLICT (address) DO NOTHING`,
    [a, r, detail ?? null, emailId ?? null],
  );
  return { address: a, changed: rowCount === 1 };
}

export async function removeSuppression(
  { pool, t }: Db,
  address: string,
): Promise<{ address: string; changed: boolean }> {
  const a = suppressionAddress(address);
  const { rowCount } = await pool.query(`DELETE FROM ${t.suppressions} WHERE address = $1`, [a]);
  return { address: a, changed: rowCount === 1 };
}

export async function listSuppressions(
  { pool, t }: Db,
  { limit = 100, address }: { limit?: number; address?: string } = {},
): Promise<Suppression[]> {
  const { rows } = await pool.query<{
    address: string;
    reason: SuppressionReason;
    detail: string | null;
    email_id: string | null;
    created_at: Date;
  }>(
    `SELECT * FROM ${t.suppressions} WHERE ($1::text IS NULL OR address = $1) ORDER BY created_at DESC, address LIMIT $2`,
    [address === undefined ? null : suppressionAddress(address), limit],
  );
  return rows.map((r) => ({
    address: r.address,
    reason: r.reason,
    detail: r.detail,
    emailId: r.email_id,
    createdAt: r.created_at.toISOString(),
  }));
}

/** Records what a delivery found: addresses refused for good, as `bounce`, with the email and the reply. */
export async function suppressRefused(
  { pool, t }: Db,
  emailId: string,
  refused: { address: string; reply: string }[],
): Promise<number> {
  if (!refused.length) return 0;
  const { rowCount } = await pool.query(
    `INSERT INTO ${t.suppressions} (address, reason, detail, email_id)
     SELECT lower(a), 'bounce', d, $1 FROM unnest($2::text[], $3::text[]) AS x(a, d)
     ON CONFLICT (address) DO NOTHING`,
    [emailId, refused.map((r) => r.address), refused.map((r) => r.reply)],
  );
  return rowCount ?? 0;
}

/** `mailer.suppressions`: the list as the library offers it (an app feeds in its provider's bounce and complaint webhooks here). */
export function suppressionsApi(db: Db) {
  return {
    add: (address: string, options: { reason: SuppressionReason; detail?: string }) =>
      addSuppression(db, address, {
        reason: options.reason,
        ...(options.detail !== undefined ? { detail: options.detail } : {}),
      }),
    remove: (address: string) => removeSuppression(db, address),
    list: (options?: { limit?: number; address?: string }) => listSuppressions(db, options),
  };
}
