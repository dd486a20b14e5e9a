// The email record's statuses, declared once. The migrations' CHECK constraint
// (the newest `emails_status_check`) lists the same values (a test compares them), the CLI validates `--status`
// against this list, and the workflow's search attribute adds its two
// in-between states (`retrying`, `held`).
export const EMAIL_STATUSES = [
  'queued',
  'scheduled',
  'blocked',
  'sending',
  'sent',
  'failed',
  'cancelled',
  'rejected',
] as const;
export type EmailStatus = (typeof EMAIL_STATUSES)[number];

/**
 * Nothing more will happen to an email in one of these (short of an operator's
 * `retry` of a failed one). `rejected`: submitted through SQL, refused by the validator.
 */
export const FINAL_STATUSES: readonly EmailStatus[] = ['sent', 'blocked', 'failed', 'cancelled', 'rejected'];
/** Not final: a workflow should be looking after the email. */
export const UNFINISHED_STATUSES: readonly EmailStatus[] = ['queued', 'scheduled', 'sending'];

export function isFinal(status: EmailStatus): boolean {
  return FINAL_STATUSES.includes(status);
}

export function isEmailStatus(value: string): value is EmailStatus {
  return (EMAIL_STATUSES as readonly string[]).includes(value);
}

/** SQL list literal of statuses, for `status IN (…)`: built from the constants, never from input. */
export function sqlList(statuses: readonly EmailStatus[]): string {
  return `(${statuses.map((s) => `'${s}'`).join(', ')})`;
}
