// The shape of bench-results/<timestamp>.json (also read by the chart and the test).
import type { CpuDelta } from './proc.ts';
import type { Distribution } from './stats.ts';

export const PHASES = ['smtp', 'engine', 'pipeline', 'latency', 'ratelimit', 'backlog'] as const;
export type Phase = (typeof PHASES)[number];

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

export interface EngineResult {
  workflows: number;
  submitConcurrency: number;
  /** First start call → last workflow closed (server close time). */
  elapsedSeconds: number;
  perSecond: number;
  startSeconds: number;
  historyEvents: { samples: number[]; mean: number };
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
  ratioToSmtp: number | undefined;
  ratioToEngine: number | undefined;
  sendMs: Distribution;
  statuses: Record<string, number>;
  historyEvents: { samples: number[]; mean: number };
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
  maxIn1s: number;
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
  maxIn1s: number;
  limitHeld: boolean;
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
    pipeline?: PipelineResult;
    latency?: LatencyResult;
    ratelimit?: RateLimitResult;
    backlog?: BacklogResult;
  };
  notes: string[];
}
