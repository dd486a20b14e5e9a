// How the bench measures: what the sink received and when, what Postgres and
// Temporal's histories say, how emails are submitted (closed and open loop),
// and CPU per item. No phase logic here; see bench/phases/.
import type { Client } from '@temporalio/client';
import protos from '@temporalio/proto';
import type pg from 'pg';
import type { Mailer } from '../src/index.ts';
import type { ReceivedMessage, SmtpSink } from '../dev/stack/smtp-sink.ts';
import { billableActions, historyBytes } from './actions.ts';
import { emailInput, log, type SendRecord, sleep, throwIfInterrupted } from './context.ts';
import { cpuDelta, type CpuSnapshot } from './proc.ts';
import type { CpuResult, HistorySample } from './results.ts';
import { type Distribution, round } from './stats.ts';

const EventType = protos.temporal.api.enums.v1.EventType;

/** Watches the sink: email id (from the Message-ID `<id@domain>`) → when the sink accepted it (ms). */
export function trackReceipts(sink: SmtpSink): Map<string, number> {
  const receipts = new Map<string, number>();
  const ID = /^Message-ID:[ \t]*<([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})@/im;
  const record = (m: ReceivedMessage) => {
    const head = m.raw.toString('latin1', 0, Math.min(m.raw.length, 16_384));
    const end = head.indexOf('\r\n\r\n');
    const match = ID.exec(end >= 0 ? head.slice(0, end) : head);
    if (match && !receipts.has(match[1]!)) receipts.set(match[1]!, Date.parse(m.receivedAt));
  };
  for (const m of sink.messages) record(m);
  // The sink appends every accepted message to `messages`; see each one as it lands.
  const push = sink.messages.push.bind(sink.messages);
  sink.messages.push = (...items: ReceivedMessage[]) => {
    for (const m of items) record(m);
    return push(...items);
  };
  return receipts;
}

export async function waitUntil<T>(
  what: string,
  check: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs: number,
  intervalMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    throwIfInterrupted();
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
    await sleep(intervalMs);
  }
}

export async function dbNow(db: pg.Client): Promise<Date> {
  const { rows } = await db.query<{ now: Date }>('SELECT clock_timestamp() AS now');
  return rows[0]!.now;
}

export async function tried(db: pg.Client, since: Date): Promise<number> {
  const { rows } = await db.query<{ n: string }>(
    'SELECT count(*) AS n FROM mailer.emails WHERE created_on >= $1 AND attempts >= 1',
    [since],
  );
  return Number(rows[0]?.n ?? 0);
}

export async function statusCounts(db: pg.Client, since: Date): Promise<Record<string, number>> {
  const { rows } = await db.query<{ status: string; n: string }>(
    'SELECT status, count(*) AS n FROM mailer.emails WHERE created_on >= $1 GROUP BY status',
    [since],
  );
  return Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
}

/**
 * Polls Postgres until `n` emails created since `since` are `sent`; returns the
 * last sent_at (ms). Fails if nothing progresses for a minute or any email
 * ends otherwise.
 */
export async function waitForSent(db: pg.Client, since: Date, n: number, phase: string): Promise<number> {
  let lastCount = -1;
  let lastProgress = Date.now();
  for (;;) {
    throwIfInterrupted();
    const { rows } = await db.query<{ sent: string; other_final: string; last: Date | null }>(
      `SELECT count(*) FILTER (WHERE status = 'sent') AS sent,
              count(*) FILTER (WHERE status IN ('failed', 'blocked', 'cancelled')) AS other_final,
              max(sent_at) AS last
         FROM mailer.emails WHERE created_on >= $1`,
      [since],
    );
    const sent = Number(rows[0]?.sent ?? 0);
    const otherFinal = Number(rows[0]?.other_final ?? 0);
    if (otherFinal)
      throw new Error(
        `${phase}: ${otherFinal} email(s) ended without being sent: ${JSON.stringify(await statusCounts(db, since))}`,
      );
    if (sent >= n) return rows[0]!.last!.getTime();
    if (sent !== lastCount) {
      lastCount = sent;
      lastProgress = Date.now();
    } else if (Date.now() - lastProgress > 60_000) {
      throw new Error(
        `${phase}: no email sent for 60 s (${sent} of ${n}): ${JSON.stringify(await statusCounts(db, since))}`,
      );
    }
    await sleep(100);
  }
}

/** When each `deliver` attempt of a workflow was scheduled and when Temporal started it (ms), from its history. */
export async function deliverDispatches(
  temporal: Client,
  workflowId: string,
): Promise<{ scheduled: number; started: number }[]> {
  const events = (await temporal.workflow.getHandle(workflowId).fetchHistory()).events ?? [];
  const at = (e: (typeof events)[number]) => Number(e.eventTime?.seconds ?? 0) * 1000 + (e.eventTime?.nanos ?? 0) / 1e6;
  const scheduled = new Map<string, number>();
  const out: { scheduled: number; started: number }[] = [];
  for (const e of events) {
    if (
      e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED &&
      e.activityTaskScheduledEventAttributes?.activityType?.name === 'deliver'
    ) {
      scheduled.set(String(e.eventId), at(e));
    }
    const from = scheduled.get(String(e.activityTaskStartedEventAttributes?.scheduledEventId));
    if (e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED && from !== undefined)
      out.push({ scheduled: from, started: at(e) });
  }
  return out;
}

/** `n` send() calls, `concurrency` at a time (a closed loop: saturation). */
export async function submitClosedLoop(
  mailer: Mailer,
  tag: string,
  n: number,
  concurrency: number,
): Promise<{ records: SendRecord[]; firstCall: number }> {
  const records: SendRecord[] = [];
  let next = 0;
  const firstCall = Date.now();
  await Promise.all(
    Array.from({ length: Math.min(concurrency, n) }, async () => {
      for (let i = next++; i < n; i = next++) {
        const calledAt = Date.now();
        const sent = await mailer.send(emailInput(tag, i));
        if (!sent.workflowStarted)
          throw new Error(`${tag}: send() stored email ${sent.id} but could not start its workflow`);
        records.push({ id: sent.id, scheduledAt: calledAt, calledAt, returnedAt: Date.now() });
      }
    }),
  );
  return { records, firstCall };
}

/** `n` send() calls at a fixed rate, whatever the earlier ones are doing (an open loop). */
export async function submitOpenLoop(mailer: Mailer, tag: string, n: number, rate: number): Promise<SendRecord[]> {
  const interval = 1000 / rate;
  const start = Date.now() + 20;
  const pending: Promise<SendRecord>[] = [];
  for (let i = 0; i < n; i++) {
    throwIfInterrupted();
    const scheduledAt = start + i * interval;
    const wait = scheduledAt - Date.now();
    if (wait > 0) await sleep(wait);
    const calledAt = Date.now();
    pending.push(
      mailer.send(emailInput(tag, i)).then((sent) => {
        if (!sent.workflowStarted) throw new Error(`${tag}: send() could not start the workflow of ${sent.id}`);
        return { id: sent.id, scheduledAt, calledAt, returnedAt: Date.now() };
      }),
    );
  }
  return Promise.all(pending);
}

/**
 * Waits until `n` workflows on `taskQueue` have closed (visibility), logging
 * progress; returns how many completed. Workflows that failed or timed out are
 * reported in the notes with one failure; a stall of 90 s is reported, not fatal.
 */
export async function waitForClosed(
  temporal: Client,
  taskQueue: string,
  n: number,
  phase: string,
  notes: string[],
): Promise<number> {
  const closedQuery = `TaskQueue = "${taskQueue}" AND ExecutionStatus != "Running"`;
  let last = -1;
  let progressAt = Date.now();
  let loggedAt = Date.now();
  let closed: number;
  for (;;) {
    throwIfInterrupted();
    closed = (await temporal.workflow.count(closedQuery)).count;
    if (closed >= n) break;
    if (closed !== last) {
      last = closed;
      progressAt = Date.now();
    }
    if (Date.now() - loggedAt > 10_000) {
      loggedAt = Date.now();
      log(`${phase}: ${closed} of ${n} workflows closed`);
    }
    if (Date.now() - progressAt > 90_000) {
      notes.push(`${phase}: only ${closed} of ${n} workflows closed (none for 90 s)`);
      log(notes.at(-1)!);
      break;
    }
    await sleep(250);
  }
  const completed = (await temporal.workflow.count(`TaskQueue = "${taskQueue}" AND ExecutionStatus = "Completed"`))
    .count;
  if (completed < closed) {
    let example = '';
    for await (const wf of temporal.workflow.list({
      query: `TaskQueue = "${taskQueue}" AND ExecutionStatus != "Running" AND ExecutionStatus != "Completed"`,
    })) {
      const error = await temporal.workflow
        .getHandle(wf.workflowId)
        .result()
        .then(
          () => undefined,
          (err: unknown) => err as Error & { cause?: Error & { cause?: Error } },
        );
      example = `${wf.workflowId} ${wf.status.name}: ${[error?.message, error?.cause?.message, error?.cause?.cause?.message].filter(Boolean).join(' ← ')}`;
      break;
    }
    notes.push(
      `${phase}: ${closed - completed} of ${n} workflows did not complete (e.g. ${example}); throughput counts completed ones only`,
    );
    log(notes.at(-1)!);
  }
  return completed;
}

/** The latest close time among the workflows matching `query`, and each one's start → close duration. */
export async function closeTimes(temporal: Client, query: string): Promise<{ last: number; durationsMs: number[] }> {
  let last = 0;
  const durationsMs: number[] = [];
  for await (const wf of temporal.workflow.list({ query })) {
    const close = wf.closeTime?.getTime() ?? 0;
    last = Math.max(last, close);
    durationsMs.push(close - wf.startTime.getTime());
  }
  return { last, durationsMs };
}

/**
 * History length of a few workflows spread over the run, and where their time
 * went: waiting in a task queue (scheduled → started) or running (started →
 * completed), for workflow tasks and activity tasks, from the event times.
 */
export async function historySample(
  temporal: Client,
  workflowIds: string[],
  sampleCount: number,
): Promise<HistorySample> {
  const picks = new Set<number>();
  const count = Math.min(sampleCount, workflowIds.length);
  for (let k = 0; k < count; k++) picks.add(Math.round((k * (workflowIds.length - 1)) / Math.max(1, count - 1)));
  const samples: number[] = [];
  const actions: number[] = [];
  const bytes: number[] = [];
  const byKind: Record<string, number> = {};
  const timelines: HistorySample['timelineMs'][] = [];
  for (const i of picks) {
    const handle = temporal.workflow.getHandle(workflowIds[i]!);
    await handle.result().catch(() => undefined);
    const history = await handle.fetchHistory();
    const events = history.events ?? [];
    samples.push(events.length);
    bytes.push(historyBytes(history));
    const counted = billableActions(history);
    actions.push(counted.total);
    for (const [kind, n] of Object.entries(counted.byKind)) byKind[kind] = (byKind[kind] ?? 0) + n / picks.size;
    const at = (e: (typeof events)[number]) =>
      Number(e.eventTime?.seconds ?? 0) * 1000 + (e.eventTime?.nanos ?? 0) / 1e6;
    const t: HistorySample['timelineMs'] = {
      total: 0,
      workflowTaskQueued: 0,
      workflowTaskRunning: 0,
      activityQueued: 0,
      activityRunning: 0,
    };
    const last: Record<string, number> = {};
    for (const e of events) {
      const time = at(e);
      switch (e.eventType) {
        case EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED:
          last.wfts = time;
          break;
        case EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED:
          t.workflowTaskQueued += time - (last.wfts ?? time);
          last.wftst = time;
          break;
        case EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
          t.workflowTaskRunning += time - (last.wftst ?? time);
          break;
        case EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
          last.ats = time;
          break;
        case EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
          t.activityQueued += time - (last.ats ?? time);
          last.atst = time;
          break;
        case EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
          t.activityRunning += time - (last.atst ?? time);
          break;
        default:
          break;
      }
    }
    if (events.length) t.total = at(events[events.length - 1]!) - at(events[0]!);
    timelines.push(t);
  }
  const mean = (f: (t: HistorySample['timelineMs']) => number) =>
    round(timelines.reduce((sum, t) => sum + f(t), 0) / Math.max(1, timelines.length), 1);
  const avg = (values: number[]) => round(values.reduce((sum, v) => sum + v, 0) / Math.max(1, values.length), 1);
  return {
    samples,
    mean: avg(samples),
    actions: {
      samples: actions,
      mean: avg(actions),
      byKind: Object.fromEntries(Object.entries(byKind).map(([k, v]) => [k, round(v, 2)])),
    },
    bytesMean: Math.round(avg(bytes)),
    timelineMs: {
      total: mean((t) => t.total),
      workflowTaskQueued: mean((t) => t.workflowTaskQueued),
      workflowTaskRunning: mean((t) => t.workflowTaskRunning),
      activityQueued: mean((t) => t.activityQueued),
      activityRunning: mean((t) => t.activityRunning),
    },
  };
}

export function cpuResult(before: CpuSnapshot, after: CpuSnapshot, items: number): CpuResult {
  const delta = cpuDelta(before, after);
  const perItemMs: Record<string, number> = { total: round(delta.totalMs / items, 2) };
  for (const [group, ms] of Object.entries(delta.ms)) perItemMs[group] = round(ms / items, 2);
  const roundedMs = Object.fromEntries(Object.entries(delta.ms).map(([g, ms]) => [g, round(ms, 0)])) as typeof delta.ms;
  return {
    seconds: round(delta.seconds, 3),
    ms: roundedMs,
    totalMs: round(delta.totalMs, 0),
    machineBusyMs: round(delta.machineBusyMs, 0),
    machineCapacityMs: round(delta.machineCapacityMs, 0),
    perItemMs,
  };
}

export function roundDistribution(d: Distribution): Distribution {
  return {
    n: d.n,
    min: round(d.min),
    p50: round(d.p50),
    p95: round(d.p95),
    p99: round(d.p99),
    max: round(d.max),
    mean: round(d.mean),
  };
}
