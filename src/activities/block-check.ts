// blockCheck: the suppression list, deny list, allow list and the per-recipient limit. The limit
// counts the emails to the same recipient submitted before this one (by
// created_on, then id) within the window ending at THIS email's submission
// time — so a backlog flushed hours later is judged as it was submitted, and
// a retry computes the same count from the same immutable rows.
import { ApplicationFailure, log } from '@temporalio/activity';
import { FINAL_STATUSES, type EmailStatus } from '../email/status.ts';
import { markBlocked } from '../email/transitions.ts';
import type { ActivityDeps } from './deps.ts';

export type BlockRule = 'suppressed' | 'deny' | 'allow' | 'per_recipient_limit';

/** What goes back into workflow history: no addresses, only the verdict. */
export type BlockCheckResult =
  { outcome: 'pass' } | { outcome: 'blocked'; rule: BlockRule } | { outcome: 'final'; status: EmailStatus };

/**
 * An address pattern matches that address; a domain pattern (`@example.com`)
 * matches the domain and every subdomain of it (`eu.example.com`), deny and
 * allow alike: whoever owns a domain owns its subdomains. Both sides are
 * lower case (the store and parseRulePattern make them so).
 */
export function matches(address: string, pattern: string): boolean {
  if (!pattern.startsWith('@')) return address === pattern;
  const domain = address.slice(address.lastIndexOf('@') + 1);
  const ruled = pattern.slice(1);
  return domain === ruled || domain.endsWith(`.${ruled}`);
}

export function createBlockCheck({ db, config, metrics }: ActivityDeps) {
  const { pool, t } = db;
  return async function blockCheck(emailId: string): Promise<BlockCheckResult> {
    // One round trip for the record, its recipients and the rules: this step
    // sits on every email's way to the SMTP server.
    const { rows } = await pool.query<{
      status: EmailStatus;
      created_on: Date;
      recipients: string[];
      rules: { kind: 'allow' | 'deny'; pattern: string }[];
      suppressed: { recipient: string; reason: string; since: string; emailId: string | null }[];
      per_recipient: { max_emails: number; window_minutes: number } | null;
    }>(
      `SELECT e.status, e.created_on,
              ARRAY(SELECT r.address FROM ${t.recipients} r WHERE r.email_id = e.id) AS recipients,
              (SELECT coalesce(json_agg(json_build_object('kind', kind, 'pattern', pattern)), '[]'::json) FROM ${t.rules}) AS rules,
              (SELECT coalesce(json_agg(json_build_object('recipient', s.address, 'reason', s.reason, 'since', s.created_at, 'emailId', s.email_id)), '[]'::json)
                 FROM ${t.suppressions} s JOIN ${t.recipients} r ON r.address = s.address WHERE r.email_id = e.id) AS suppressed,
              (SELECT json_build_object('max_emails', max_emails, 'window_minutes', window_minutes)
                 FROM ${t.limits} WHERE scope = 'per_recipient') AS per_recipient
         FROM ${t.emails} e WHERE e.id = $1`,
      [emailId],
    );
    const email = rows[0];
    if (!email) throw ApplicationFailure.nonRetryable(`email ${emailId} does not exist`, 'EmailNotFound');
    if (FINAL_STATUSES.includes(email.status)) return { outcome: 'final', status: email.status };
    // A delivery was already attempted (this is a re-run after a lost workflow):
    // it passed the check then, and judging it again could only contradict that.
    if (email.status === 'sending') return { outcome: 'pass' };

    const recipients = email.recipients;
    const dbRules = email.rules;
    const deny = [...config.rules.deny, ...dbRules.filter((r) => r.kind === 'deny').map((r) => r.pattern)];
    const allow = [...config.rules.allow, ...dbRules.filter((r) => r.kind === 'allow').map((r) => r.pattern)];

    let reason: Record<string, unknown> | undefined;
    if (email.suppressed.length) reason = { rule: 'suppressed', matches: email.suppressed };
    const denied = recipients.flatMap((a) =>
      deny.filter((p) => matches(a, p)).map((pattern) => ({ recipient: a, pattern })),
    );
    if (!reason && denied.length) reason = { rule: 'deny', matches: denied };
    if (!reason && allow.length) {
      const notAllowed = recipients.filter((a) => !allow.some((p) => matches(a, p)));
      if (notAllowed.length) reason = { rule: 'allow', notAllowed };
    }
    if (!reason) {
      const limitRow = email.per_recipient;
      const limit = limitRow
        ? { maxEmails: limitRow.max_emails, windowMinutes: limitRow.window_minutes }
        : config.rules.perRecipient;
      if (limit) {
        const counts = await pool.query<{ address: string; earlier: number }>(
          `SELECT r.address, count(o.email_id)::int AS earlier
             FROM ${t.recipients} r
             LEFT JOIN ${t.recipients} o
               ON o.address = r.address
              AND o.created_on > r.created_on - make_interval(mins => $2)
              AND (o.created_on, o.email_id) < (r.created_on, r.email_id)
            WHERE r.email_id = $1
            GROUP BY r.address`,
          [emailId, limit.windowMinutes],
        );
        const over = counts.rows.filter((c) => c.earlier >= limit.maxEmails);
        if (over.length) reason = { rule: 'per_recipient_limit', limit, over, judgedAt: email.created_on };
      }
    }
    if (!reason) return { outcome: 'pass' };

    // Only a not-yet-final email becomes blocked; the reason (with addresses) stays in Postgres.
    if (!(await markBlocked(db, emailId, reason))) {
      const now = (await pool.query<{ status: EmailStatus }>(`SELECT status FROM ${t.emails} WHERE id = $1`, [emailId]))
        .rows[0];
      return { outcome: 'final', status: now?.status ?? 'cancelled' };
    }
    metrics.blocked(reason.rule as BlockRule);
    log.info('email blocked', { emailId, rule: reason.rule });
    return { outcome: 'blocked', rule: reason.rule as BlockRule };
  };
}
