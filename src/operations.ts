// What an operator needs when email stops flowing: find stuck emails (a
// workflow is running but delivery keeps failing or takes too long) and lost
// ones (the record is not final but no workflow is running for it), and act
// on them. Postgres says which emails are unfinished; Temporal says whether a
// workflow is looking after each.
import { type Client, WorkflowNotFoundError } from '@temporalio/client';
import type pg from 'pg';
import { mapLimit } from './concurrency.ts';
import type { Config } from './config.ts';
import type { EmailStatus } from './email/store.ts';
import type { SendEmailState } from './workflows/send-email.ts';

export interface OpsContext {
  pool: pg.Pool;
  temporal: Client;
  config: Config;
  /** Starts (or joins) the email's workflow; the client's own start, so options never drift. */
  startWorkflow(emailId: string, sendAt?: Date | null): Promise<boolean>;
}

interface Candidate {
  id: string;
  status: EmailStatus;
  attempts: number;
  last_error: string | null;
  created_on: Date;
  updated_at: Date;
  send_at: Date | null;
  workflow_id: string;
}

export type WorkflowState = 'RUNNING' | 'NOT_FOUND' | 'COMPLETED' | 'FAILED' | 'CANCELLED' | 'TERMINATED' | 'TIMED_OUT' | 'CONTINUED_AS_NEW' | 'UNKNOWN';

async function workflowState(temporal: Client, workflowId: string): Promise<WorkflowState> {
  try {
    return (await temporal.workflow.getHandle(workflowId).describe()).status.name as WorkflowState;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return 'NOT_FOUND';
    throw err;
  }
}

/** Workflow ids we generate (`email-<uuid>`): safe to put inside a visibility query's quotes. */
const PLAIN_ID = /^[\w.:-]+$/;

/**
 * Which of `workflowIds` have a running workflow. One visibility query per 100
 * ids says which are listed as running; visibility trails the truth by a
 * moment, so every id it does not list is confirmed with a describe. In an
 * outage with thousands of unfinished emails that is a few dozen list calls
 * and a describe per email that really has no workflow, instead of a describe
 * for every email.
 */
async function workflowStates(temporal: Client, workflowIds: string[]): Promise<Map<string, WorkflowState>> {
  const states = new Map<string, WorkflowState>();
  const plain = workflowIds.filter((id) => PLAIN_ID.test(id));
  for (let i = 0; i < plain.length; i += 100) {
    const batch = plain.slice(i, i + 100);
    const query = `ExecutionStatus = 'Running' AND WorkflowId IN (${batch.map((id) => `'${id}'`).join(', ')})`;
    for await (const wf of temporal.workflow.list({ query })) states.set(wf.workflowId, 'RUNNING');
  }
  const unlisted = workflowIds.filter((id) => !states.has(id));
  const described = await mapLimit(unlisted, 8, (id) => workflowState(temporal, id));
  unlisted.forEach((id, i) => states.set(id, described[i]!));
  return states;
}

export function webUiLink(config: Config, workflowId: string): string {
  return `${config.temporal.uiUrl}/namespaces/${encodeURIComponent(config.temporal.namespace)}/workflows/${encodeURIComponent(workflowId)}`;
}

export interface LostEmail {
  id: string;
  status: EmailStatus;
  workflowId: string;
  /** What Temporal says of the email's workflow: never started, or closed without finishing the email. */
  workflow: Exclude<WorkflowState, 'RUNNING'>;
  attempts: number;
  lastError: string | null;
  updatedAt: string;
}

/**
 * Records that are not final (`queued`, `scheduled`, `sending`), unchanged for
 * `olderThanMs` (a just-submitted email may be between commit and start), and
 * whose workflow is not running.
 */
export async function findLost(ctx: OpsContext, { olderThanMs = ctx.config.reconcile.olderThanMs, limit = 1000 } = {}): Promise<LostEmail[]> {
  const { rows } = await ctx.pool.query<Candidate>(
    `SELECT id, status, attempts, last_error, created_on, updated_at, send_at, workflow_id FROM emails
      WHERE status IN ('queued', 'scheduled', 'sending') AND NOT email_has_been_sent
        AND updated_at < clock_timestamp() - make_interval(secs => $1)
      ORDER BY created_on LIMIT $2`,
    [olderThanMs / 1000, limit],
  );
  const states = await workflowStates(ctx.temporal, rows.map((r) => r.workflow_id));
  return rows.flatMap((r) => {
    const workflow = states.get(r.workflow_id) ?? 'UNKNOWN';
    if (workflow === 'RUNNING') return [];
    return [{ id: r.id, status: r.status, workflowId: r.workflow_id, workflow, attempts: r.attempts, lastError: r.last_error, updatedAt: r.updated_at.toISOString() }];
  });
}

export interface ReconcileResult {
  dryRun: boolean;
  lost: LostEmail[];
  /** Emails whose workflow was started again (or joined, if another reconcile got there first). */
  restarted: string[];
  /** Emails that could not be restarted, with the reason. */
  skipped: { id: string; reason: string }[];
}

/**
 * Starts the workflow again, under the same id, for every lost email. Safe at
 * any time and concurrently: a start joins a running workflow, and delivery
 * itself is guarded by the sent flag and the claim in Postgres.
 */
export async function reconcile(ctx: OpsContext, { dryRun = false, olderThanMs = ctx.config.reconcile.olderThanMs } = {}): Promise<ReconcileResult> {
  const lost = await findLost(ctx, { olderThanMs });
  const result: ReconcileResult = { dryRun, lost, restarted: [], skipped: [] };
  if (dryRun) return result;
  for (const email of lost) {
    const { rows } = await ctx.pool.query<{ send_at: Date | null }>('SELECT send_at FROM emails WHERE id = $1', [email.id]);
    if (await ctx.startWorkflow(email.id, rows[0]?.send_at)) result.restarted.push(email.id);
    else result.skipped.push({ id: email.id, reason: 'Temporal did not accept the start' });
  }
  return result;
}

export interface StuckEmail {
  id: string;
  status: EmailStatus;
  workflowId: string;
  attempts: number;
  lastError: string | null;
  step: SendEmailState['step'] | null;
  nextAttemptAt: string | null;
  updatedAt: string;
  link: string;
}

/**
 * Emails with a running workflow whose delivery is being retried, or that have
 * not moved for `olderThanMs` (not counting ones waiting for their send_at).
 */
export async function findStuck(ctx: OpsContext, { olderThanMs = 5 * 60_000, limit = 500 } = {}): Promise<StuckEmail[]> {
  const { rows } = await ctx.pool.query<Candidate>(
    `SELECT id, status, attempts, last_error, created_on, updated_at, send_at, workflow_id FROM emails
      WHERE NOT email_has_been_sent AND (
            (status = 'sending' AND (last_error IS NOT NULL OR held_since IS NOT NULL))
         OR (status IN ('queued', 'sending') AND updated_at < clock_timestamp() - make_interval(secs => $1)
             AND (send_at IS NULL OR send_at < clock_timestamp() - make_interval(secs => $1))))
      ORDER BY created_on LIMIT $2`,
    [olderThanMs / 1000, limit],
  );
  const states = await workflowStates(ctx.temporal, rows.map((r) => r.workflow_id));
  const views = await mapLimit(rows, 8, async (r) => {
    if (states.get(r.workflow_id) !== 'RUNNING') return undefined;
    try {
      return await ctx.temporal.workflow.getHandle(r.workflow_id).query<SendEmailState>('state');
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return undefined;
      throw err;
    }
  });
  return rows.flatMap((r, i) => {
    const state = views[i];
    // No running workflow: that is `lost`, not stuck. A run that finished a
    // moment ago may still be listed as running; its state says it is done.
    if (!state || state.step === 'done') return [];
    return [{
      id: r.id, status: r.status, workflowId: r.workflow_id, attempts: r.attempts, lastError: r.last_error,
      step: state.step, nextAttemptAt: state.nextAttemptAt, updatedAt: r.updated_at.toISOString(), link: webUiLink(ctx.config, r.workflow_id),
    }];
  });
}

export class OperationError extends Error {
  override readonly name = 'OperationError';
  constructor(
    readonly code: 'NOT_FOUND' | 'NOT_FAILED' | 'START_FAILED',
    message: string,
  ) {
    super(message);
  }
}

/** A `failed` email gets a new run under the same workflow id (allowed: the last run failed). */
export async function retryFailed(ctx: OpsContext, id: string): Promise<{ id: string; workflowId: string }> {
  const { rows } = await ctx.pool.query<{ workflow_id: string; send_at: Date | null }>(
    `UPDATE emails SET status = 'queued', delivery_claim = NULL, updated_at = clock_timestamp()
      WHERE id = $1 AND status = 'failed' AND NOT email_has_been_sent RETURNING workflow_id, send_at`,
    [id],
  );
  const row = rows[0];
  if (!row) {
    const current = await ctx.pool.query<{ status: EmailStatus }>('SELECT status FROM emails WHERE id = $1', [id]);
    if (!current.rows[0]) throw new OperationError('NOT_FOUND', `id: no email ${id}`);
    throw new OperationError('NOT_FAILED', `id: email ${id} is ${current.rows[0].status}; only a failed email can be retried`);
  }
  if (!(await ctx.startWorkflow(id, row.send_at))) {
    // Left `queued`: the reconciler will start it once Temporal answers.
    throw new OperationError('START_FAILED', `email ${id} is queued again, but Temporal did not accept the start; reconcile will retry it`);
  }
  return { id, workflowId: row.workflow_id };
}
