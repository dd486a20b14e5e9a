// Allow/deny rules and the per-recipient limit, as stored in Postgres. The
// configuration's rules (EMAIL_ALLOW, EMAIL_DENY, EMAIL_PER_RECIPIENT_LIMIT)
// apply as well; stored ones are added to them, and a stored limit replaces
// the configured one.
import type pg from 'pg';
import { ConfigError, type Config, parseRulePattern, parseWindowLimit } from '../config.ts';
import { ValidationError } from '../email/validation.ts';

export type RuleKind = 'allow' | 'deny';

function pattern(value: string): string {
  if (value.length > 254) throw new ValidationError('PATTERN', 'is longer than 254 characters');
  try {
    return parseRulePattern(value, 'PATTERN');
  } catch (err) {
    if (err instanceof ConfigError) throw new ValidationError('PATTERN', `"${value}" is neither an address (a@example.com) nor a domain (@example.com)`);
    throw err;
  }
}

export async function addRule(pool: pg.Pool, kind: RuleKind, value: string): Promise<{ pattern: string; changed: boolean }> {
  const p = pattern(value);
  const { rowCount } = await pool.query('INSERT INTO recipient_rules (kind, pattern) VALUES ($1, $2) ON CONFLICT DO NOTHING', [kind, p]);
  return { pattern: p, changed: rowCount === 1 };
}

export async function removeRule(pool: pg.Pool, kind: RuleKind, value: string): Promise<{ pattern: string; changed: boolean }> {
  const p = pattern(value);
  const { rowCount } = await pool.query('DELETE FROM recipient_rules WHERE kind = $1 AND pattern = $2', [kind, p]);
  return { pattern: p, changed: rowCount === 1 };
}

export async function listRules(pool: pg.Pool, config: Config): Promise<{ kind: RuleKind; pattern: string; source: 'database' | 'config' }[]> {
  const { rows } = await pool.query<{ kind: RuleKind; pattern: string }>('SELECT kind, pattern FROM recipient_rules ORDER BY kind, pattern');
  return [
    ...config.rules.deny.map((p) => ({ kind: 'deny' as const, pattern: p, source: 'config' as const })),
    ...config.rules.allow.map((p) => ({ kind: 'allow' as const, pattern: p, source: 'config' as const })),
    ...rows.map((r) => ({ ...r, source: 'database' as const })),
  ];
}

// The columns are Postgres integers; these bounds keep every value far inside them.
const MAX_EMAILS = 1_000_000;
const MAX_WINDOW_MINUTES = 366 * 24 * 60;

export async function setPerRecipientLimit(pool: pg.Pool, value: string): Promise<{ maxEmails: number; windowMinutes: number }> {
  let limit: { maxEmails: number; windowMinutes: number };
  try {
    limit = parseWindowLimit(value, '--per-recipient');
  } catch (err) {
    if (err instanceof ConfigError) throw new ValidationError('--per-recipient', `"${value.slice(0, 40)}" is not X/Ymin, e.g. 10/60m (10 emails per 60 minutes)`);
    throw err;
  }
  if (limit.maxEmails > MAX_EMAILS) throw new ValidationError('--per-recipient', `allows at most ${MAX_EMAILS} emails per window`);
  if (limit.windowMinutes > MAX_WINDOW_MINUTES) throw new ValidationError('--per-recipient', `has a window of at most ${MAX_WINDOW_MINUTES} minutes (366 days)`);
  await pool.query(
    `INSERT INTO recipient_limits (scope, max_emails, window_minutes) VALUES ('per_recipient', $1, $2)
     ON CONFLICT (scope) DO UPDATE SET max_emails = $1, window_minutes = $2, updated_at = now()`,
    [limit.maxEmails, limit.windowMinutes],
  );
  return limit;
}

export async function showLimits(pool: pg.Pool, config: Config) {
  const row = (await pool.query<{ max_emails: number; window_minutes: number }>("SELECT max_emails, window_minutes FROM recipient_limits WHERE scope = 'per_recipient'")).rows[0];
  if (row) return { perRecipient: { maxEmails: row.max_emails, windowMinutes: row.window_minutes }, source: 'database' };
  return { perRecipient: config.rules.perRecipient ?? null, source: 'config' };
}
