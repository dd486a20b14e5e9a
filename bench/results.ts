// The shape of bench-results/<timestamp>.json (also read by the chart and the test).
import type { OutboxResult } from './phases/outbox.ts';
import type { CpuDelta } from './proc.ts';
import type { Distribution } from './stats.ts';

export const PHASES = ['smtp', 'engine-minimal', 'engine', 'engine-regular', 'pipeline', 'latency', 'outbox', 'ratelimit', 'backlog'] as const;
export type Phase = (typeof PHASES)[number];
/** What a run without --phases measures (engine-regular, the shape before the fast path, is opt-in). */
export const DEFAULT_PHASES: Phase[] = ['smtp', 'engine-minimal', 'engine', 'pipeline', 'latency', 'outbox', 'ratelimit', 'backlog'];

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
  /** Mean per workflow, ms: first to last event, and the sums of task queue waits and task run times. */
  timelineMs: { total: number; workflowTaskQueued: number; workflowTaskRunning: number; activityQueued: number; activityRunning: number };
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
  sendMs: Distribution;
  statuses: Record<string, number>;
  historyEvents: HistorySample;
  cpu: CpuResult;
  memory: { workerPeakRssBytes: number | undefined; temporalPeakRssBytes: number | undefined; postgresMaxTreeRssBytes: number | undefined; benchPeakRssBytes: number };
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
    pipeline?: PipelineResult;
    latency?: LatencyResult;
    ratelimit?: RateLimitResult;
    backlog?: BacklogResult;
    outbox?: OutboxResult;
  };
  /** Wall time of each phase (and of the setup: stack start and bundling), seconds. */
  phaseSeconds: Record<string, number>;
  notes: string[];
}
