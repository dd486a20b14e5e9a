// Operator commands: stuck, lost, reconcile, retry, setup.
import type { Mailer } from '../client.ts';
import { parseDuration } from '../config.ts';
import { isEmailId } from '../email/store.ts';
import { ValidationError } from '../errors.ts';
import { findLost, findStuck, reconcile, retryFailed } from '../operations.ts';
import { SEARCH_ATTRIBUTES } from '../search-attributes.ts';
import protos from '@temporalio/proto';

// Ten years: anything longer is a typo, and past Postgres' timestamp range it would be a database error.
const MAX_DURATION_MS = 3650 * 86_400_000;

export function duration(value: string | undefined, option: string, fallback: number): number {
  if (value === undefined) return fallback;
  let ms: number;
  try {
    ms = parseDuration(value, option);
  } catch {
    throw new ValidationError(option, `"${value.slice(0, 40)}" is not a duration like 30s, 5m or 1h`);
  }
  if (!(ms <= MAX_DURATION_MS)) throw new ValidationError(option, `"${value.slice(0, 40)}" is longer than 3650 days`);
  return ms;
}

export async function stuck(m: Mailer, olderThanMs: number) {
  const emails = await findStuck(m, { olderThanMs });
  const human =
    emails
      .map(
        (e) =>
          `${e.id}  ${e.status}  attempts ${e.attempts}  step ${e.step}${e.nextAttemptAt ? `  next ${e.nextAttemptAt}` : ''}\n  ${e.lastError ?? '(no error: slow)'}\n  ${e.link}`,
      )
      .join('\n') || '(nothing stuck)';
  return { human, json: { emails } };
}

export async function lost(m: Mailer, olderThanMs: number) {
  const emails = await findLost(m, { olderThanMs });
  const human =
    emails
      .map((e) => `${e.id}  ${e.status}  workflow ${e.workflow}  attempts ${e.attempts}  updated ${e.updatedAt}`)
      .join('\n') || '(nothing lost)';
  return { human, json: { emails } };
}

export async function runReconcile(m: Mailer, olderThanMs: number, dryRun: boolean) {
  const result = await reconcile(m, { olderThanMs, dryRun });
  const human = dryRun
    ? `${result.lost.length} lost email(s) would be restarted${result.lost.map((e) => `\n  ${e.id}  (workflow ${e.workflow})`).join('')}`
    : `${result.restarted.length} restarted, ${result.skipped.length} skipped${result.restarted.map((id) => `\n  ${id}`).join('')}`;
  return { human, json: { ...result } };
}

export async function retry(m: Mailer, id: string) {
  if (!isEmailId(id)) throw new ValidationError('id', 'is not an email id (a UUID)');
  const result = await retryFailed(m, id);
  return { human: `${result.id}  queued again (workflow ${result.workflowId})`, json: { ...result, status: 'queued' } };
}

/** Registers the search attributes on an existing namespace; adding what is already there is skipped. */
export async function setup(m: Mailer) {
  const namespace = m.config.temporal.namespace;
  const service = m.temporal.connection.operatorService;
  const existing = (await service.listSearchAttributes({ namespace })).customAttributes ?? {};
  const types = protos.temporal.api.enums.v1.IndexedValueType;
  const missing = SEARCH_ATTRIBUTES.filter((k) => !(k.name in existing));
  if (missing.length) {
    await service.addSearchAttributes({
      namespace,
      searchAttributes: Object.fromEntries(
        missing.map((k) => [
          k.name,
          k.type === 'INT' ? types.INDEXED_VALUE_TYPE_INT : types.INDEXED_VALUE_TYPE_KEYWORD,
        ]),
      ),
    });
  }
  const added = missing.map((k) => k.name);
  return {
    human: added.length
      ? `registered ${added.join(', ')} on ${namespace}`
      : `search attributes already registered on ${namespace}`,
    json: { namespace, added, present: SEARCH_ATTRIBUTES.map((k) => k.name) },
  };
}
