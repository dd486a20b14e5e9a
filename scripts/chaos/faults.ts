// The faults, injected on the seeded schedule while the emails are submitted:
// workers SIGKILLed and SIGTERMed, the Temporal server and Postgres SIGKILLed
// and relaunched, the SMTP sink down or slow. Each fault restores what it
// broke before it counts as done; the run restores the rest afterwards.
import { type ChaosRun, errorText, type FaultLogEntry, sleep } from './context.ts';
import type { FaultKind, PlannedFault } from './plan.ts';
import type { Fleet } from './workers.ts';

type Part = 'temporal' | 'postgres' | 'smtp';

/** Relaunches a server until it answers (its port may still be held for a moment, or a crash left a lock). */
export async function relaunch(run: ChaosRun, what: Part, launch: () => Promise<void>): Promise<void> {
  for (let tries = 1; ; tries++) {
    try {
      await launch();
      return;
    } catch (err) {
      run.stats.relaunchFailures[what]++;
      run.log(`   ${what} relaunch failed (${errorText(err)}); retrying in 1 s`);
      if (tries >= 60) throw err;
      await sleep(1000);
    }
  }
}

/** The server a fault takes down: it must not be hit again while still down. */
const partOf = (kind: FaultKind): Part | undefined =>
  kind === 'temporal-kill'
    ? 'temporal'
    : kind === 'postgres-kill'
      ? 'postgres'
      : kind === 'smtp-down'
        ? 'smtp'
        : undefined;

function skipped(run: ChaosRun, f: PlannedFault, entry: FaultLogEntry): void {
  run.faultsSkipped[f.kind]++;
  entry.detail = 'skipped: no worker was running for 30 s';
  run.log(`!! fault ${f.kind} ${entry.detail}`);
}

async function runFault(run: ChaosRun, fleet: Fleet, f: PlannedFault, entry: FaultLogEntry): Promise<void> {
  const { temporal, postgres, smtp } = run.live;
  /** Counts the fault, records what it does, and says so. */
  const begin = (detail: string) => {
    run.faultCounts[f.kind]++;
    entry.injectedAtS = run.seconds();
    entry.detail = detail;
    run.log(`>> fault ${f.kind}: ${detail}`);
  };
  /** One part of the stack down for the fault's pause, then back. */
  const outage = async (detail: string, part: Part, down: () => Promise<void>, up: () => Promise<void>) => {
    begin(detail);
    await down();
    await sleep(f.pauseMs);
    await relaunch(run, part, up);
  };
  switch (f.kind) {
    case 'worker-sigkill': {
      const victim = await fleet.takeVictim(f.pick);
      if (!victim) return skipped(run, f, entry);
      begin(`SIGKILL ${victim.name}, replacement after ${f.pauseMs} ms`);
      await victim.kill();
      await sleep(f.pauseMs);
      await fleet.add();
      break;
    }
    case 'worker-sigterm': {
      const victim = await fleet.takeVictim(f.pick);
      if (!victim) return skipped(run, f, entry);
      begin(`SIGTERM ${victim.name}, replacement after ${f.pauseMs} ms`);
      const exited = victim.stop(30_000).then(() => {
        const code = victim.process.exitCode;
        run.stats.sigtermExitCodes.push(code);
        if (code !== 0) run.log(`!! ${victim.name} exited with ${code ?? victim.process.signalCode} after SIGTERM`);
      });
      await sleep(f.pauseMs);
      await fleet.add();
      await exited;
      break;
    }
    case 'temporal-kill':
      await outage(
        `SIGKILL the Temporal dev server, relaunch after ${f.pauseMs} ms`,
        'temporal',
        () => temporal.kill(),
        () => temporal.launch(),
      );
      break;
    case 'postgres-kill':
      await outage(
        `SIGKILL Postgres, relaunch after ${f.pauseMs} ms`,
        'postgres',
        () => postgres.kill(),
        () => postgres.launch(),
      );
      break;
    case 'smtp-down':
      await outage(
        `SMTP sink down for ${f.pauseMs} ms`,
        'smtp',
        () => smtp.close(),
        () => smtp.listen(),
      );
      break;
    case 'smtp-slow':
      begin(`next ${f.slowReplies} SMTP replies after 3000 ms`);
      for (let k = 0; k < f.slowReplies; k++) smtp.replyQueue.push({ kind: 'accept', delayMs: 3000 });
      break;
  }
  entry.restoredAtS = run.seconds();
  if (f.kind !== 'smtp-slow') run.log(`<< restored after ${f.kind} (${entry.detail})`);
}

/** Fires the planned faults at their times from `start`; resolves when the last one has been started. */
export async function injectFaults(run: ChaosRun, fleet: Fleet, start: number): Promise<void> {
  const down = new Map<Part, Promise<void>>();
  for (const f of run.faultPlan) {
    const wait = start + f.atMs - Date.now();
    if (wait > 0) await sleep(wait);
    if (run.interrupted) return;
    const part = partOf(f.kind);
    while (part && down.has(part)) await down.get(part);
    const entry: FaultLogEntry = { kind: f.kind, plannedAtS: run.seconds(start + f.atMs), detail: '' };
    run.faultLog.push(entry);
    const task = runFault(run, fleet, f, entry).catch((err) => {
      run.stats.harnessErrors.push(`fault ${f.kind}: ${errorText(err)}`);
      run.log(`!! fault ${f.kind} could not be completed: ${errorText(err)}`);
    });
    if (part)
      down.set(
        part,
        task.finally(() => down.delete(part)),
      );
    run.background.push(task);
  }
}
