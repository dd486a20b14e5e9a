// The lost-email core: records that are not final but have no workflow looking
// after them, and restarting those workflows. Below both the reconcile
// activity (the Schedule) and the operator commands, which call it directly.
// Postgres says which emails are unfinished; Temporal says whether a workflow
// is looking after each.
import { type Client, WorkflowNotFoundError, type WorkflowExecutionStatusName } from '@temporalio/client';
import { mapLimit } from '../concurrency.ts';
import type { ClientConfig } from '../config.ts';
import type { Db } from '../db/schema.ts';
import { PRIORITY_COLUMNS, type PriorityColumns } from './priority.ts';
import { startEmailWorkflow } from './start.ts';
import { type EmailStatus, sqlList, UNFINISHED_STATUSES } from './status.ts';

/** What the lost/stuck/retry operations need: the record, Temporal and the settings. */
export interface OpsContext {
  db: Db;
  temporal: Client;
  config: ClientConfig;
}

/** What Temporal says of an email's workflow; NOT_FOUND when it never started (or is past retention). */
export type WorkflowState = WorkflowExecutionStatusName | 'NOT_FOUND';

export interface Candidate extends PriorityColumns {
  id: string;
  status: EmailStatus;
  attempts: number;
  last_error: string | null;
  created_on: Date;
  updated_at: Date;
  send_at: Date | null;
  workflow_id: string;
}

export const CANDIDATE_COLUMNS = `id, status, attempts, last_error, created_on, updated_at, send_at, workflow_id, ${PRIORITY_COLUMNS}`;

async function workflowState(temporal: Client, workflowId: string): Promise<WorkflowState> {
  try {
    return (await temporal.workflow.getHandle(workflowId).describe()).status.name;
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
export async function workflowStates(temporal: Client, workflowIds: string[]): Promise<Map<string, WorkflowState>> {
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

export interface LostEmail {
  id: string;
  status: EmailStatus;
  workflowId: string;
  /** What Temporal says of the email's workflow: never started, or closed without finishing the email. */
  workflow: Exclude<WorkflowState, 'RUNNING'>;
  attempts: number;
  lastError: string | null;
  updatedAt: string;
  sendAt: string | null;
  /** The record's priority and fairness key, which the restarted workflow carries again. */
  priority: PriorityColumns;
}

/**
 * Records that are not final (`queued`, `scheduled`, `sending`), unchanged for
 * `olderThanMs` (a just-submitted email may be between commit and start), and
 * whose workflow is not running.
 */
export async function findLost(
  ctx: OpsContext,
  { olderThanMs = ctx.config.reconcile.olderThanMs, limit = 1000 } = {},
): Promise<LostEmail[]> {
  const { rows } = await ctx.db.pool.query<Candidate>(
    `SELECT ${CANDIDATE_COLUMNS} FROM ${ctx.db.t.emails}
      WHERE status IN ${sqlList(UNFINISHED_STATUSES)} AND NOT email_has_been_sent
        -- Submitted through SQL and not validated yet: the relay's, which validates before it starts.
        AND message_id IS NOT NULL
        AND updated_at < clock_timestamp() - make_interval(secs => $1)
      ORDER BY created_on LIMIT $2`,
    [olderThanMs / 1000, limit],
  );
  const states = await workflowStates(
    ctx.temporal,
    rows.map((r) => r.workflow_id),
  );
  return rows.flatMap((r) => {
    const workflow = states.get(r.workflow_id) ?? 'UNKNOWN';
    if (workflow === 'RUNNING') return [];
    return [
      {
        id: r.id,
        status: r.status,
        workflowId: r.workflow_id,
        workflow,
        attempts: r.attempts,
        lastError: r.last_error,
        updatedAt: r.updated_at.toISOString(),
        sendAt: r.send_at?.toISOString() ?? null,
        priority: { priority_key: r.priority_key, fairness_key: r.fairness_key, fairness_weight: r.fairness_weight },
      },
    ];
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
export async function reconcile(
  ctx: OpsContext,
  { dryRun = false, olderThanMs = ctx.config.reconcile.olderThanMs } = {},
): Promise<ReconcileResult> {
  const lost = await findLost(ctx, { olderThanMs });
  const result: ReconcileResult = { dryRun, lost, restarted: [], skipped: [] };
  if (dryRun) return result;
  for (const email of lost) {
    const outcome = await startEmailWorkflow(
      ctx.temporal,
      ctx.config,
      email.id,
      email.sendAt ? new Date(email.sendAt) : null,
      undefined,
      email.priority,
    );
    if (outcome.started) result.restarted.push(email.id);
    else result.skipped.push({ id: email.id, reason: outcome.reason });
  }
  return result;
}
