// The shape of bench-results/<timestamp>.json (also read by the chart and the test).
import type { OutboxResult } from './phases/outbox.ts';
import type { PersistencePerEmail } from './persistence.ts';
import type { CpuDelta } from './proc.ts';
import type { Distribution } from './stats.ts';

export const PHASES = [
  'smtp',
  'engine-minimal',
  'engine',
  'engine-regular',
  'work',
  'pipeline',
  'latency',
  'outbox',
  'ratelimit',
  'backlog',
  'priority',
  'compare',
] as const;
export type Phase = (typeof PHASES)[number];
/** Phases a run includes only when --phases names them: the shape before the fast path, and the revision comparison. */
const OPT_IN: readonly Phase[] = ['engine-regular', 'compare'];
/** What a run without --phases measures: every phase but the opt-in ones, in PHASES order. */
export const DEFAULT_PHASES: Phase[] = PHASES.filter((p) => !OPT_IN.includes(p));

export interface CpuResult extends CpuDelta {
  /** CPU milliseconds per email (or workflow), per process group and in total. */
  perItemMs: Record<string, number>;
}

export interface SmtpResult {
  messages: number;
  inFlight: number;
  poolSize: number;
  failed: number;
  elapsedSeconds: number;
  perSecond: number;
}

export interface HistorySample {
  /** Events per workflow, a few workflows spread over the phase. */
  samples: number[];
  mean: number;
  /** Temporal Cloud's billable Actions per workflow, counted from the same histories (bench/actions.ts), and their mean by kind. */
  actions: { samples: number[]; mean: number; byKind: Record<string, number> };
  /** Mean encoded size of those histories, bytes. */
  bytesMean: number;
  /** Mean per workflow, ms: first to last event, and the sums of task queue waits and task run times. */
  timelineMs: {
    total: number;
    workflowTaskQueued: number;
    workflowTaskRunning: number;
    activityQueued: number;
    activityRunning: number;
  };
}

export interface EngineResult {
  workflowType: string;
  workflows: number;
  completed: number;
  submitConcurrency: number;
  /** First start call → last workflow closed (server close time). */
  elapsedSeconds: number;
  perSecond: number;
  startSeconds: number;
  historyEvents: HistorySample;
  /** Each workflow's start → close (server times). */
  workflowMs: Distribution;
  cpu: CpuResult;
}

/** The work floor: send()'s insert and the three activities in-process, no engine (bench/work-loop.ts). */
export interface WorkResult {
  emails: number;
  sent: number;
  failed: number;
  concurrency: number;
  /** First email submitted → last `sent` flag (max sent_at). */
  elapsedSeconds: number;
  perSecond: number;
  statuses: Record<string, number>;
  cpu: CpuResult;
  persistence: PersistencePerEmail;
}

export interface PipelineResult {
  emails: number;
  submitConcurrency: number;
  /** First send() call → last send() returned. */
  submitSeconds: number;
  submitPerSecond: number;
  /** First send() call → last `sent` flag (max sent_at). */
  elapsedSeconds: number;
  perSecond: number;
  /** First send() call → last workflow closed. */
  allClosedSeconds: number | undefined;
  /** Each workflow's start → close (server times). */
  workflowMs: Distribution | undefined;
  ratioToSmtp: number | undefined;
  ratioToEngine: number | undefined;
  /** Throughput and CPU per email, pipeline ÷ work floor. */
  ratioToWork: { throughput: number; cpu: number } | undefined;
  sendMs: Distribution;
  statuses: Record<string, number>;
  historyEvents: HistorySample;
  cpu: CpuResult;
  persistence: PersistencePerEmail;
  memory: {
    workerPeakRssBytes: number | undefined;
    temporalPeakRssBytes: number | undefined;
    postgresMaxTreeRssBytes: number | undefined;
    benchPeakRssBytes: number;
  };
  /** Messages accepted by the sink per second since the first send. */
  receivedPerSecond: number[];
}

export interface LatencyLevel {
  loadPercent: number;
  targetRate: number;
  achievedRate: number;
  seconds: number;
  emails: number;
  delivered: number;
  /** send() returned → the sink accepted the message. */
  latencyMs: Distribution;
  /** Scheduled arrival → send() returned (queueing in the client shows here). */
  sendMs: Distribution;
  /** Arrivals that fired more than 50 ms after their scheduled time (the open loop slipping). */
  lateArrivals: number;
}

export interface LatencyResult {
  saturationRate: number;
  saturationRateSource: 'pipeline' | 'option';
  levels: LatencyLevel[];
}

export interface RateLimitRun {
  workers: number;
  limitPerSecond: number;
  seconds: number;
  submitted: number;
  /** Messages accepted within [first receipt, first receipt + seconds). */
  delivered: number;
  ratePerSecond: number;
  errorPercent: number;
  /** Messages accepted in the first second: the limiter's initial burst (a token bucket starts full). */
  firstSecond: number;
  /** The rate over a window of the same length starting 2 s after the first receipt (after the burst). */
  steadyRatePerSecond: number;
  steadyErrorPercent: number;
  /** Largest number of messages the sink accepted within any 1 s. */
  maxIn1s: number;
  /** Largest number of deliver attempts Temporal started within any 1 s (history event times): the limiter without delivery jitter. */
  maxIn1sDispatched: number;
  /** The same from 2 s after the first dispatch on: without the limiter's initial burst. */
  maxIn1sDispatchedAfter2s: number;
  /** deliver scheduled → started: a queue in front of the limit shows here. */
  deliverQueueWaitMs: Distribution;
  /** Whether deliveries queued in front of the limit (or exceeded it); if not, the engine set the rate and the error says little about the limiter. */
  limitBinding: boolean;
  /** Deliveries per second over the window. */
  perSecond: number[];
}

export interface RateLimitResult {
  limitPerSecond: number;
  runs: RateLimitRun[];
}

export interface BacklogResult {
  emails: number;
  limitPerSecond: number;
  settings: Record<string, string>;
  submitSeconds: number;
  /** Sink down → sink up. */
  outageSeconds: number;
  /** Emails with at least one failed attempt when the sink came back. */
  emailsTriedBeforeReopen: number;
  failedAttempts: number;
  /** Sink up → last `sent`. */
  drainSeconds: number;
  idealDrainSeconds: number;
  drainPerSecond: number;
  /** Largest number of messages the sink accepted within any 1 s after it came back. */
  maxIn1s: number;
  /** Largest number of deliver attempts Temporal started within any 1 s after the sink came back (history times): the limiter itself. */
  maxIn1sDispatched: number;
  /** maxIn1sDispatched ≤ twice the limit (the target's test; the bucket starts full). */
  limitHeld: boolean;
  /** Whether dispatches reached (≥ 90 % of) the limit in some second; if not, something else bounded the drain and `limitHeld` proves little. */
  limitBinding: boolean;
  sent: number;
  perSecond: number[];
  /** Histories of a few of these emails: each failed once, then was sent (the retried path). */
  historyEvents: HistorySample;
}

/** One side of one compare round: the pipeline at saturation with one version of the worker. */
export interface CompareRun {
  side: 'baseline' | 'current';
  round: number;
  emails: number;
  perSecond: number;
  cpuPerEmailMs: Record<string, number>;
  persistence: PersistencePerEmail;
  historyEvents: number;
  actions: number;
  /** Load average (1 min) when the run started. */
  load1: number;
}

export interface CompareResult {
  baseline: string;
  baselineCommit: string;
  currentCommit: string;
  baselineEnv: Record<string, string>;
  currentEnv: Record<string, string>;
  runs: CompareRun[];
  /** Medians per side, and current ÷ baseline. */
  summary: Record<
    'baseline' | 'current',
    {
      perSecond: number;
      cpuTotal: number;
      cpuEngine: number;
      cpuWorker: number;
      cpuTemporal: number;
      events: number;
      actions: number;
    }
  > & {
    ratio: { perSecond: number; cpuTotal: number; cpuEngine: number };
  };
}

/** What an email costs in Temporal Cloud Actions (bench/actions.ts), per path. */
export interface CostResult {
  prices: Record<string, number>;
  retentionDays: number;
  paths: {
    path: string;
    source: string;
    events: number;
    bytes: number;
    actions: number;
    byKind: Record<string, number>;
    perMillionEmails: number;
    perMillionEmailsAt100M: number;
    retainedStoragePerMillion: number;
  }[];
  notInHistory: string[];
}

export interface PriorityResult {
  limitPerSecond: number;
  /** Normal emails submitted at once before the high-priority ones. */
  batch: number;
  urgent: {
    when: string;
    /** Deliveries queued in front of the limit when the high-priority email was submitted (the server's count). */
    deliverBacklog: number;
    /** Batch emails not yet delivered when it reached the sink: those it overtook. */
    batchUndelivered: number;
    /** send() called → the sink accepted it. */
    latencyMs: number;
  }[];
  /** Deliveries in the 40 s around the second high-priority one (the whole batch queued): the limit while it cut in. */
  rate: {
    seconds: number;
    /** By when Temporal started deliver (history): the limiter itself. */
    perSecond: number;
    maxIn1sDispatched: number;
    /** By the sink's receipt times (adds the worker's and the sink's jitter). */
    maxIn1sAccepted: number;
  };
  fairness: {
    weights: Record<string, number>;
    flood: number;
    late: number;
    window: number;
    shareB: number;
    expectedShareB: number;
  };
}

export interface BenchResults {
  startedAt: string;
  finishedAt: string;
  durationSeconds: number;
  command: string[];
  options: Record<string, unknown>;
  environment: Record<string, unknown>;
  settings: Record<string, unknown>;
  phases: {
    smtp?: SmtpResult;
    engine?: EngineResult;
    'engine-regular'?: EngineResult;
    'engine-minimal'?: EngineResult;
    work?: WorkResult;
    pipeline?: PipelineResult;
    latency?: LatencyResult;
    ratelimit?: RateLimitResult;
    backlog?: BacklogResult;
    compare?: CompareResult;
    priority?: PriorityResult;
    outbox?: OutboxResult;
  };
  costs?: CostResult;
  /** Wall time of each phase (and of the setup: stack start and bundling), seconds. */
  phaseSeconds: Record<string, number>;
  notes: string[];
}
