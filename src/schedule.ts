// The service's Temporal Schedules, created idempotently by every worker at
// start: two workers starting together create one Schedule (the loser of the
// race gets "already running" and leaves it be, updating the interval if it
// changed).
//  - reconcile (RECONCILE_INTERVAL): resends lost emails;
//  - purge (MAILER_PURGE_INTERVAL): retention, src/email/retention.ts.
import { type Client, ScheduleAlreadyRunning, ScheduleOverlapPolicy } from '@temporalio/client';
import type { Config } from './config.ts';

export function reconcileScheduleId(taskQueue: string): string {
  return `mailer-reconcile-${taskQueue}`;
}

export function purgeScheduleId(taskQueue: string): string {
  return `mailer-purge-${taskQueue}`;
}

interface IntervalSchedule {
  scheduleId: string;
  every: number;
  workflowType: string;
  workflowId: string;
  summary: string;
}

async function ensureIntervalSchedule(temporal: Client, taskQueue: string, s: IntervalSchedule): Promise<string> {
  const action = {
    type: 'startWorkflow' as const,
    workflowType: s.workflowType,
    taskQueue,
    workflowId: s.workflowId,
    staticSummary: s.summary,
  };
  try {
    await temporal.schedule.create({
      scheduleId: s.scheduleId,
      spec: { intervals: [{ every: s.every }] },
      action,
      // A slow run is never doubled up; a missed one is simply skipped.
      policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: s.every },
    });
  } catch (err) {
    if (!(err instanceof ScheduleAlreadyRunning)) throw err;
    const handle = temporal.schedule.getHandle(s.scheduleId);
    const current = (await handle.describe()).spec.intervals?.[0]?.every;
    if (current !== s.every) await handle.update((prev) => ({ ...prev, spec: { intervals: [{ every: s.every }] } }));
  }
  return s.scheduleId;
}

export async function ensureReconcileSchedule(temporal: Client, config: Config): Promise<string | undefined> {
  const every = config.reconcile.intervalMs;
  if (!every) return undefined;
  const queue = config.temporal.taskQueue;
  return ensureIntervalSchedule(temporal, queue, {
    scheduleId: reconcileScheduleId(queue),
    every,
    workflowType: 'reconcileWorkflow',
    workflowId: `reconcile-${queue}`,
    summary: 'Resend lost emails',
  });
}

/**
 * Only when there is something to purge. A Schedule left from a time when
 * retention was on runs, finds the worker's retention off, and purges nothing.
 */
export async function ensurePurgeSchedule(temporal: Client, config: Config): Promise<string | undefined> {
  const every = config.retention.intervalMs;
  if (!every || (config.retention.contentAfterMs === undefined && config.retention.recordAfterMs === undefined))
    return undefined;
  const queue = config.temporal.taskQueue;
  return ensureIntervalSchedule(temporal, queue, {
    scheduleId: purgeScheduleId(queue),
    every,
    workflowType: 'purgeWorkflow',
    workflowId: `purge-${queue}`,
    summary: 'Purge the content of emails past EMAIL_CONTENT_RETENTION',
  });
}
