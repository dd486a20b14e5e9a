// Allow/deny rules and the per-recipient limit, as stored in Postgres. The
// configuration's rules (EMAIL_ALLOW, EMAIL_DENY, EMAIL_PER_RECIPIENT_LIMIT)
// apply as well; stored ones are added to them, and a stored limit replaces
// the configured one.
import { ConfigError, type Config, parseRulePattern, parseWindowLimit } from '../config.ts';
import type { Db } from '../db/schema.ts';
import { ValidationError } from '../email/validation.ts';

export type RuleKind = 'allow' | 'deny';

function pattern(value: string): string {
  if (value.length > 254) throw new ValidationError('PATTERN', 'is longer than 254 characters');
  try {
    return parseRulePattern(value, 'PATTERN');
  } catch (err) {
    if (err instanceof ConfigError)
      throw new ValidationError(
        'PATTERN',
        `"${value}" is neither an address (a@example.com) nor a domain (@example.com)`,
      );
    throw err;
  }
}

export async function addRule(
  { pool, t }: Db,
  kind: RuleKind,
  value: string,
): Promise<{ pattern: string; changed: boolean }> {
  const p = pattern(value);
  const { rowCount } = await pool.query(
    `INSERT INTO ${t.rules} (kind, pattern) VALUES ($1, $2) ON CONFLICT DO NOTHING`,
    [kind, p],
  );
  return { pattern: p, changed: rowCount === 1 };
}

export async function removeRule(
  { pool, t }: Db,
  kind: RuleKind,
  value: string,
): Promise<{ pattern: string; changed: boolean }> {
  const p = pattern(value);
  const { rowCount } = await pool.query(`DELETE FROM ${t.rules} WHERE kind = $1 AND pattern = $2`, [kind, p]);
  return { pattern: p, changed: rowCount === 1 };
}

export async function listRules(
  { pool, t }: Db,
  config: Pick<Config, 'rules'>,
): Promise<{ kind: RuleKind; pattern: string; source: 'database' | 'config' }[]> {
  const { rows } = await pool.query<{ kind: RuleKind; pattern: string }>(
    `SELECT kind, pattern FROM ${t.rules} ORDER BY kind, pattern`,
  );
  return [
    ...config.rules.deny.map((p) => ({ kind: 'deny' as const, pattern: p, source: 'config' as const })),
    ...config.rules.allow.map((p) => ({ kind: 'allow' as const, pattern: p, source: 'config' as const })),
    ...rows.map((r) => ({ ...r, source: 'database' as const })),
  ];
}

export async function setPerRecipientLimit(
  { pool, t }: Db,
  value: string,
): Promise<{ maxEmails: number; windowMinutes: number }> {
  // The same parser and bounds as EMAIL_PER_RECIPIENT_LIMIT: a limit the
  // worker would refuse from its environment is refused here too, before it
  // reaches the integer columns (and blockCheck's make_interval).
  let limit: { maxEmails: number; windowMinutes: number };
  try {
    limit = parseWindowLimit(value, '--per-recipient');
  } catch (err) {
    if (err instanceof ConfigError)
      throw new ValidationError('--per-recipient', err.message.slice(`${err.variable}: `.length));
    throw err;
  }
  await pool.query(
    `INSERT INTO ${t.limits} (scope, max_emails, window_minutes) VALUES ('per_recipient', $1, $2)
     ON CONFLICT (scope) DO UPDATE SET max_emails = $1, window_minutes = $2, updated_at = now()`,
    [limit.maxEmails, limit.windowMinutes],
  );
  return limit;
}

export async function showLimits({ pool, t }: Db, config: Pick<Config, 'rules'>) {
  const row = (
    await pool.query<{ max_emails: number; window_minutes: number }>(
      `SELECT max_emails, window_minutes FROM ${t.limits} WHERE scope = 'per_recipient'`,
    )
  ).rows[0];
  if (row)
    return { perRecipient: { maxEmails: row.max_emails, windowMinutes: row.window_minutes }, source: 'database' };
  return { perRecipient: config.rules.perRecipient ?? null, source: 'config' };
}
