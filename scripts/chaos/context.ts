// The state of one chaos run: created by main(), handed to every part (fleet,
// faults, load, scoreboard), gone with the run. Nothing of a run lives at
// module level, so a second run in the same process starts clean.
import type { Mailer } from '../../src/index.ts';
import type { Stack } from '../../dev/stack/index.ts';
import type { ChaosOptions } from './options.ts';
import { FAULT_KINDS, type FaultKind, type PlannedEmail, type PlannedFault, planRun } from './plan.ts';

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
export const errorText = (err: unknown) =>
  (err instanceof Error ? err.message : String(err)).replace(/\s*\n\s*/g, ' | ').slice(0, 400);

export interface FaultLogEntry {
  kind: FaultKind;
  /** Seconds from the start of the run (the `[+…s]` of the log). */
  plannedAtS: number;
  injectedAtS?: number;
  restoredAtS?: number;
  detail: string;
}

const perFaultKind = () => Object.fromEntries(FAULT_KINDS.map((k) => [k, 0])) as Record<FaultKind, number>;

function newStats() {
  return {
    sendErrors: 0,
    cancelErrors: 0,
    workflowStartDeferred: 0,
    workerSpawnFailures: 0,
    /** Why worker processes failed to start: their last words, counted. */
    workerSpawnFailureReasons: {} as Record<string, number>,
    unexpectedWorkerExits: [] as { name: string; code: number | null; atS: number }[],
    sigtermExitCodes: [] as (number | null)[],
    relaunchFailures: { temporal: 0, postgres: 0, smtp: 0 },
    harnessErrors: [] as string[],
  };
}
export type RunStats = ReturnType<typeof newStats>;

export class ChaosRun {
  readonly t0 = Date.now();
  readonly emails: PlannedEmail[];
  readonly faultPlan: PlannedFault[];
  readonly stats: RunStats = newStats();
  readonly faultCounts = perFaultKind();
  readonly faultsSkipped = perFaultKind();
  readonly faultLog: FaultLogEntry[] = [];
  /** Work that faults and worker exits start (restores, replacements): awaited before the run restores. */
  readonly background: Promise<unknown>[] = [];
  /** Set once the run is over (restore, teardown): worker exits no longer get replacements. */
  stopping = false;
  /** A signal or a crash of this process: every loop stops at its next turn. */
  interrupted = false;
  /** A crash of this process (the backend role): the run fails, logs are kept. */
  fatal = false;
  stack: Stack | undefined;
  /** The stack's start while it runs: teardown waits for it, so a signal during the start leaves no server behind. */
  stackStarting: Promise<Stack> | undefined;
  mailer: Mailer | undefined;
  dataDir: string | undefined;
  workerLogDir: string | undefined;
  workerEnv: Record<string, string> = {};
  /** When the last email was accepted (and, if it is one to cancel, cancelled). */
  lastSubmitAt = 0;

  constructor(readonly options: ChaosOptions) {
    ({ emails: this.emails, faults: this.faultPlan } = planRun(options));
  }

  stamp(): string {
    return `[+${((Date.now() - this.t0) / 1000).toFixed(1).padStart(6)}s]`;
  }

  log(line: string): void {
    console.log(`${this.stamp()} ${line}`);
  }

  /** Seconds since the run started, for the fault log and the scoreboard. */
  seconds(at = Date.now()): number {
    return (at - this.t0) / 1000;
  }

  /** The run's own stack and client, once started: everything after the start needs them. */
  get live() {
    const { stack, mailer } = this;
    if (!stack?.temporal || !stack.postgres || !stack.smtp || !mailer)
      throw new Error('the chaos run has not started its stack and client');
    return { stack, mailer, temporal: stack.temporal, postgres: stack.postgres, smtp: stack.smtp };
  }
}
