// What an operator needs when email stops flowing: find stuck emails (a
// workflow is running but delivery keeps failing or takes too long) and lost
// ones (src/email/lost.ts: the record is not final but no workflow is running
// for it), and act on them.
import { WorkflowNotFoundError } from '@temporalio/client';
import { mapLimit } from './concurrency.ts';
import type { ClientConfig } from './config.ts';
import { type SendEmailState, stateQuery } from './contract.ts';
import { OperationError } from './errors.ts';
import { CANDIDATE_COLUMNS, type Candidate, type OpsContext, workflowStates } from './email/lost.ts';
import { startEmailWorkflow } from './email/start.ts';
import type { EmailStatus } from './email/status.ts';
import { requeueFailed } from './email/transitions.ts';

export {
  findLost,
  reconcile,
  type LostEmail,
  type OpsContext,
  type ReconcileResult,
  type WorkflowState,
} from './email/lost.ts';

export function webUiLink(config: Pick<ClientConfig, 'temporal'>, workflowId: string): string {
  return `${config.temporal.uiUrl}/namespaces/${encodeURIComponent(config.temporal.namespace)}/workflows/${encodeURIComponent(workflowId)}`;
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
export async function findStuck(
  ctx: OpsContext,
  { olderThanMs = 5 * 60_000, limit = 500 } = {},
): Promise<StuckEmail[]> {
  const { rows } = await ctx.db.pool.query<Candidate>(
    `SELECT ${CANDIDATE_COLUMNS} FROM ${ctx.db.t.emails}
      WHERE NOT email_has_been_sent AND (
            (status = 'sending' AND (last_error IS NOT NULL OR held_since IS NOT NULL))
         OR (status IN ('queued', 'sending') AND updated_at < clock_timestamp() - make_interval(secs => $1)
             AND (send_at IS NULL OR send_at < clock_timestamp() - make_interval(secs => $1))))
      ORDER BY created_on LIMIT $2`,
    [olderThanMs / 1000, limit],
  );
  const states = await workflowStates(
    ctx.temporal,
    rows.map((r) => r.workflow_id),
  );
  const views = await mapLimit(rows, 8, async (r) => {
    if (states.get(r.workflow_id) !== 'RUNNING') return undefined;
    try {
      return await ctx.temporal.workflow.getHandle(r.workflow_id).query(stateQuery);
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
    return [
      {
        id: r.id,
        status: r.status,
        workflowId: r.workflow_id,
        attempts: r.attempts,
        lastError: r.last_error,
        step: state.step,
        nextAttemptAt: state.nextAttemptAt,
        updatedAt: r.updated_at.toISOString(),
        link: webUiLink(ctx.config, r.workflow_id),
      },
    ];
  });
}

/** A `failed` email gets a new run under the same workflow id (allowed: the last run failed). */
export async function retryFailed(ctx: OpsContext, id: string): Promise<{ id: string; workflowId: string }> {
  const row = await requeueFailed(ctx.db, id);
  if (!row) {
    const current = await ctx.db.pool.query<{ status: EmailStatus; purged_at: Date | null }>(
      `SELECT status, purged_at FROM ${ctx.db.t.emails} WHERE id = $1`,
      [id],
    );
    if (!current.rows[0]) throw new OperationError('NOT_FOUND', `id: no email ${id}`, 'id');
    if (current.rows[0].purged_at) {
      throw new OperationError(
        'PURGED',
        `id: email ${id} is ${current.rows[0].status} and its content was purged (EMAIL_CONTENT_RETENTION) on ${current.rows[0].purged_at.toISOString()}; there is nothing left to send`,
        'id',
      );
    }
    throw new OperationError(
      'NOT_FAILED',
      `id: email ${id} is ${current.rows[0].status}; only a failed email can be retried`,
      'id',
    );
  }
  const outcome = await startEmailWorkflow(ctx.temporal, ctx.config, id, row.send_at, undefined, row);
  if (!outcome.started) {
    // Left `queued`: the reconciler will start it once Temporal answers.
    throw new OperationError(
      'START_FAILED',
      `email ${id} is queued again, but Temporal did not accept the start (${outcome.reason}); reconcile will retry it`,
    );
  }
  return { id, workflowId: row.workflow_id };
}
