// Events, webhooks and the suppression list on the command line:
//   mailer events [ID] [--webhook STATE] [--after EVENT_ID] [--limit N]
//   mailer events redeliver EVENT_ID…        (refused or expired → pending again)
//   mailer webhooks                          (the sender, counts, what holds up, what was refused)
//   mailer suppressions list | add ADDRESS --reason R [--note T] | remove ADDRESS
import { WorkflowNotFoundError } from '@temporalio/client';
import type { Mailer } from '../client.ts';
import { SUPPRESSION_REASONS, suppressionReason } from '../email/suppressions.ts';
import { ValidationError } from '../errors.ts';
import { webhookSenderId } from '../events/sender.ts';
import { redeliverEvents, type WebhookState, webhookSummary } from '../events/store.ts';

type Result = { human: string; json: Record<string, unknown> };

function limitOf(value: string | undefined): number {
  const limit = value === undefined ? 50 : Number(value);
  if (!Number.isInteger(limit) || limit < 1 || limit > 10_000)
    throw new ValidationError('--limit', 'must be a whole number from 1 to 10000');
  return limit;
}

export async function events(
  m: Mailer,
  positionals: string[],
  values: { webhook?: string; after?: string; limit?: string },
): Promise<Result> {
  if (positionals[0] === 'redeliver') {
    const ids = positionals.slice(1);
    if (!ids.length || ids.some((id) => !/^\d{1,19}$/.test(id)))
      throw new ValidationError('EVENT_ID', 'give one or more event ids (numbers, as `mailer events` lists them)');
    const count = await redeliverEvents(m.db, m.config.database.schema, ids);
    return { human: `${count} event(s) queued for the webhook again`, json: { redelivered: count } };
  }
  const list = await m.events({
    ...(positionals[0] !== undefined ? { emailId: positionals[0] } : {}),
    ...(values.webhook !== undefined ? { webhook: values.webhook as WebhookState } : {}),
    ...(values.after !== undefined ? { after: values.after } : {}),
    limit: limitOf(values.limit),
  });
  const human =
    list
      .map((e) => {
        const w = e.webhook;
        const hook =
          w.state === 'pending' && w.attempts ? `pending, ${w.attempts} attempt(s), next ${w.nextAttemptAt}` : w.state;
        return `${e.id.padStart(6)}  ${e.occurredAt}  ${e.type.padEnd(9)}  ${e.emailId}  webhook ${hook}${w.lastError ? `\n        last webhook error: ${w.lastError}` : ''}`;
      })
      .join('\n') || '(no events)';
  return { human, json: { events: list } };
}

export async function webhooks(m: Mailer, configured: boolean): Promise<Result> {
  const summary = await webhookSummary(m.db);
  let sender = 'NOT_FOUND';
  try {
    sender = (await m.temporal.workflow.getHandle(webhookSenderId(m.config.temporal.taskQueue)).describe()).status.name;
  } catch (err) {
    if (!(err instanceof WorkflowNotFoundError)) throw err;
  }
  const c = summary.counts;
  const lines = [
    `webhook ${configured ? 'configured' : 'not configured here (WEBHOOK_URL)'}; sender workflow ${webhookSenderId(m.config.temporal.taskQueue)}: ${sender}`,
    `events: ${c.pending} pending, ${c.delivered} delivered, ${c.refused} refused, ${c.expired} expired`,
  ];
  const o = summary.oldestPending;
  if (o)
    lines.push(
      `oldest pending: event ${o.id} of ${o.occurredAt}, ${o.attempts} attempt(s)${o.lastError ? `, last error: ${o.lastError}` : ''}, next ${o.nextAttemptAt}`,
    );
  for (const r of summary.lastRefused)
    lines.push(`refused: event ${r.id} (${r.type}, email ${r.emailId}) at ${r.at}: ${r.lastError}`);
  if (summary.lastRefused.length) lines.push('(after fixing the receiver: mailer events redeliver EVENT_ID…)');
  return { human: lines.join('\n'), json: { configured, sender, ...summary } };
}

export async function suppressions(
  m: Mailer,
  positionals: string[],
  values: { reason?: string; note?: string; limit?: string },
): Promise<Result> {
  const [action, address] = positionals;
  if (action === 'list' || action === undefined) {
    const list = await m.suppressions.list({ limit: limitOf(values.limit) });
    const human =
      list
        .map(
          (s) =>
            `${s.address}  ${s.reason}  since ${s.createdAt}${s.emailId ? `  found by email ${s.emailId}` : ''}${s.detail ? `\n  ${s.detail}` : ''}`,
        )
        .join('\n') || '(no suppressed addresses)';
    return { human, json: { suppressions: list } };
  }
  if (action !== 'add' && action !== 'remove') throw new ValidationError('action', 'must be list, add or remove');
  if (!address) throw new ValidationError('ADDRESS', 'is missing');
  if (action === 'remove') {
    const r = await m.suppressions.remove(address);
    return { human: `removed ${r.address}${r.changed ? '' : ' (was not suppressed)'}`, json: { action, ...r } };
  }
  if (values.reason === undefined)
    throw new ValidationError('--reason', `is missing (one of ${SUPPRESSION_REASONS.join(', ')})`);
  const reason = suppressionReason(values.reason, '--reason');
  const r = await m.suppressions.add(address, {
    reason,
    ...(values.note !== undefined ? { detail: values.note } : {}),
  });
  return {
    human: `suppressed ${r.address} (${reason})${r.changed ? '' : ' (already suppressed: kept as it was)'}`,
    json: { action, reason, ...r },
  };
}
