// The reconcile Schedule, created idempotently by every worker at start: two
// workers starting together create one Schedule (the loser of the race gets
// "already running" and leaves it be, updating the interval if it changed).
import { type Client, ScheduleAlreadyRunning, ScheduleOverlapPolicy } from '@temporalio/client';
import type { Config } from './config.ts';

export function reconcileScheduleId(taskQueue: string): string {
  return `mailer-reconcile-${taskQueue}`;
}

export async function ensureReconcileSchedule(temporal: Client, config: Config): Promise<string | undefined> {
  const every = config.reconcile.intervalMs;
  if (!every) return undefined;
  const scheduleId = reconcileScheduleId(config.temporal.taskQueue);
  const action = {
    type: 'startWorkflow' as const,
    workflowType: 'reconcileWorkflow',
    taskQueue: config.temporal.taskQueue,
    workflowId: `reconcile-${config.temporal.taskQueue}`,
    staticSummary: 'Resend lost emails',
  };
  try {
    await temporal.schedule.create({
      scheduleId,
      spec: { intervals: [{ every }] },
      action,
      // A slow run is never doubled up; a missed one is simply skipped.
      policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: every },
    });
  } catch (err) {
    if (!(err instanceof ScheduleAlreadyRunning)) throw err;
    const handle = temporal.schedule.getHandle(scheduleId);
    const current = (await handle.describe()).spec.intervals?.[0]?.every;
    if (current !== every) await handle.update((prev) => ({ ...prev, spec: { intervals: [{ every }] } }));
  }
  return scheduleId;
}
