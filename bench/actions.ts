// Temporal Cloud's billable Actions, counted from a workflow's history by the
// definition Temporal publishes (https://docs.temporal.io/evaluate/cloud/actions;
// bench/README.md cites the version used), and what they cost per million
// emails next to what an email provider charges for sending them.
//
// History holds everything the common path is billed for. What it does not
// hold is listed in NOT_IN_HISTORY and is zero on the paths the bench
// measures: no query (the pipeline never asks a workflow for its state), no
// signal, and no activity heartbeat reaching the server (deliver's first
// heartbeat is due after a third of DELIVER_HEARTBEAT_TIMEOUT; a send that
// takes that long pays one Action per heartbeat the SDK lets through).
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils.js';
import protos from '@temporalio/proto';
import type { BenchResults, CostResult, HistorySample } from './results.ts';

type History = protos.temporal.api.history.v1.IHistory;
type HistoryEvent = protos.temporal.api.history.v1.IHistoryEvent;
const EventType = protos.temporal.api.enums.v1.EventType;

export type ActionKind =
  | 'workflow started'
  | 'search attributes upserted'
  | 'activity scheduled'
  | 'activity retried'
  | 'local activities (one per workflow task)'
  | 'local activity retried'
  | 'workflow task heartbeat'
  | 'timer started'
  | 'signal received'
  | 'child workflow started'
  | 'update accepted'
  | 'nexus operation'
  | 'other';

export interface ActionCount {
  total: number;
  byKind: Partial<Record<ActionKind, number>>;
}

export const NOT_IN_HISTORY = [
  'queries (mailer status asks the workflow for its state: one Action each)',
  'activity heartbeats that reach the server',
  'schedule starts (2 Actions each on top of the workflow start)',
];

/** Billable Actions in one workflow run's history, by Temporal Cloud's published definition. */
export function billableActions(history: History | HistoryEvent[]): ActionCount {
  const events = Array.isArray(history) ? history : (history.events ?? []);
  const byKind: Partial<Record<ActionKind, number>> = {};
  const add = (kind: ActionKind, n = 1) => {
    if (n > 0) byKind[kind] = (byKind[kind] ?? 0) + n;
  };
  // All markers recorded by one workflow task are one Action ("all Local Activities associated with one Workflow Task").
  const markerTasks = new Set<string>();
  for (const [i, e] of events.entries()) {
    switch (e.eventType) {
      case EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
        // Search attributes given at start are not billed.
        add('workflow started');
        break;
      case EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES: {
        // One Action per command, however many attributes it sets; TemporalChangeVersion (versioning) alone is exempt.
        const fields = Object.keys(
          e.upsertWorkflowSearchAttributesEventAttributes?.searchAttributes?.indexedFields ?? {},
        );
        if (!(fields.length === 1 && fields[0] === 'TemporalChangeVersion')) add('search attributes upserted');
        break;
      }
      case EventType.EVENT_TYPE_WORKFLOW_EXECUTION_OPTIONS_UPDATED:
      case EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
        add(e.eventType === EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED ? 'update accepted' : 'other');
        break;
      case EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
        add('activity scheduled');
        break;
      case EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
        // Server-side retries leave no event of their own: the attempt number counts them.
        add('activity retried', Math.max(0, (e.activityTaskStartedEventAttributes?.attempt ?? 1) - 1));
        break;
      case EventType.EVENT_TYPE_MARKER_RECORDED:
        markerTasks.add(String(e.markerRecordedEventAttributes?.workflowTaskCompletedEventId ?? i));
        break;
      case EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED: {
        add(
          'local activity retried',
          Math.min(
            100,
            e.workflowTaskCompletedEventAttributes?.meteringMetadata?.nonfirstLocalActivityExecutionAttempts ?? 0,
          ),
        );
        // A workflow task completed only to ask for the next one at once is the SDK
        // heartbeating a workflow task whose local activities outlive its timeout.
        if (events[i + 1]?.eventType === EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED) add('workflow task heartbeat');
        break;
      }
      case EventType.EVENT_TYPE_TIMER_STARTED:
        add('timer started');
        break;
      case EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
        add('signal received');
        break;
      case EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED:
        add('child workflow started', 2);
        break;
      case EventType.EVENT_TYPE_NEXUS_OPERATION_SCHEDULED:
      case EventType.EVENT_TYPE_NEXUS_OPERATION_CANCEL_REQUESTED:
        add('nexus operation');
        break;
      case EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
        if (
          e.workflowTaskFailedEventAttributes?.cause ===
          protos.temporal.api.enums.v1.WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_RESET_WORKFLOW
        )
          add('other');
        break;
      default:
        break;
    }
  }
  add('local activities (one per workflow task)', markerTasks.size);
  return { total: Object.values(byKind).reduce((sum, n) => sum + n, 0), byKind };
}

/** The encoded size of a history: what Temporal stores for it (open: active storage; closed: retained). */
export function historyBytes(history: History): number {
  return protos.temporal.api.history.v1.History.encode(history).finish().length;
}

// Published prices, read 2026-12-01 (bench/README.md cites the pages).
export const PRICES = {
  /** Temporal Cloud, pay-as-you-go: the first 5 M Actions of a month; every Action on the Developer plan. */
  temporalPerMillionActions: 50,
  /** The cheapest published tier (100 M–200 M Actions a month). */
  temporalPerMillionActionsAt100M: 25,
  /** Retained storage (closed workflows' histories), per GB-hour. */
  temporalRetainedPerGbHour: 0.00105,
  /** Amazon SES, à-la-carte outbound: $0.10 per 1,000 recipients. */
  sesPerMillionEmails: 100,
};

export interface PathCost {
  actions: number;
  /** Temporal Cloud Actions for one million emails at the first-tier price, and at the cheapest published tier. */
  perMillionEmails: number;
  perMillionEmailsAt100M: number;
  /** Retained storage of a million such histories for `retentionDays`, dollars. */
  retainedStoragePerMillion: number;
}

export function pathCost(actions: number, bytes: number, retentionDays = 30): PathCost {
  return {
    actions,
    perMillionEmails: actions * PRICES.temporalPerMillionActions,
    perMillionEmailsAt100M: actions * PRICES.temporalPerMillionActionsAt100M,
    retainedStoragePerMillion: ((bytes * 1e6) / 1e9) * retentionDays * 24 * PRICES.temporalRetainedPerGbHour,
  };
}

export interface RecordedPath {
  file: string;
  events: number;
  bytes: number;
  actions: ActionCount;
}

/** Actions of every history recorded from real runs (test/fixtures/histories, `npm run record-histories`). */
export async function recordedPaths(dir: string): Promise<RecordedPath[]> {
  const files = (await readdir(dir)).filter((f) => f.endsWith('.json')).sort();
  return Promise.all(
    files.map(async (file) => {
      const history = historyFromJSON(JSON.parse(await readFile(path.join(dir, file), 'utf8')));
      return {
        file,
        events: history.events?.length ?? 0,
        bytes: historyBytes(history),
        actions: billableActions(history),
      };
    }),
  );
}

/**
 * Actions and cost per email for each path the run measured (the pipeline's
 * histories: the common path; the backlog's: failed once, then sent) and for
 * every recorded history.
 */
export async function costSummary(results: BenchResults, fixturesDir: string, retentionDays = 30): Promise<CostResult> {
  const paths: CostResult['paths'] = [];
  const measured = (name: string, source: string, h: HistorySample | undefined) => {
    if (!h?.actions) return;
    paths.push({
      path: name,
      source,
      events: h.mean,
      bytes: h.bytesMean,
      byKind: h.actions.byKind,
      ...pathCost(h.actions.mean, h.bytesMean, retentionDays),
    });
  };
  measured(
    'sent at the first attempt',
    `this run: pipeline, ${results.phases.pipeline?.historyEvents.samples.length ?? 0} histories`,
    results.phases.pipeline?.historyEvents,
  );
  measured(
    'retried, then sent',
    `this run: backlog, ${results.phases.backlog?.historyEvents.samples.length ?? 0} histories`,
    results.phases.backlog?.historyEvents,
  );
  for (const r of await recordedPaths(fixturesDir)) {
    const name = r.file.replace(/^send-email-/, '').replace(/\.json$/, '');
    paths.push({
      path: name,
      source: 'recorded history',
      events: r.events,
      bytes: r.bytes,
      byKind: r.actions.byKind,
      ...pathCost(r.actions.total, r.bytes, retentionDays),
    });
  }
  return { prices: PRICES, retentionDays, paths, notInHistory: NOT_IN_HISTORY };
}
