// The run's workers: real child processes (spawnWorker), each logging into the
// run's folder. A worker that dies on its own (not hit by a fault, not during
// teardown) is counted and replaced, as a process supervisor would.
import type { ManagedChild } from '../../dev/stack/child.ts';
import { StopWaiting, waitFor } from '../../dev/stack/wait.ts';
import { spawnWorker, WorkerStartError } from '../../dev/stack/worker-process.ts';
import { type ChaosRun, errorText, sleep } from './context.ts';

export class Fleet {
  private readonly running = new Set<ManagedChild>();
  /** Workers stopped on purpose (a fault, teardown): their exit is no surprise. */
  private readonly intentional = new WeakSet<ManagedChild>();
  private seq = 0;

  constructor(private readonly run: ChaosRun) {}

  get size(): number {
    return this.running.size;
  }

  /** Starts one worker process and adds it to the fleet; retried while Temporal or Postgres are down. */
  async add(deadline = Date.now() + this.run.options.settleMs): Promise<void> {
    const { run } = this;
    for (;;) {
      const name = `worker-${++this.seq}`;
      try {
        const w = await this.spawn(name);
        this.running.add(w);
        void w.exited.then((code) => {
          this.running.delete(w);
          if (this.intentional.has(w) || run.stopping) return;
          run.stats.unexpectedWorkerExits.push({ name, code, atS: run.seconds() });
          run.log(`!! ${name} exited on its own (code ${code}); starting a replacement`);
          run.background.push(
            this.add().catch((err) => run.stats.harnessErrors.push(`replacement worker: ${errorText(err)}`)),
          );
        });
        return;
      } catch (err) {
        run.stats.workerSpawnFailures++;
        run.log(`   ${name} did not start (${errorText(err)}); retrying in 1 s`);
        if (Date.now() > deadline || run.stopping)
          throw new Error(`no worker could be started: ${errorText(err)}`, { cause: err });
        await sleep(1000);
      }
    }
  }

  /**
   * A running worker to hit, now marked as hit on purpose. When none is
   * running (all being replaced), waits up to 30 s, then gives up (undefined):
   * piling worker faults up behind a fleet that cannot start would fire them
   * all at once later.
   */
  async takeVictim(pick: number): Promise<ManagedChild | undefined> {
    const victim = await waitFor(
      'a running worker',
      () => {
        if (this.run.interrupted) throw new StopWaiting('interrupted');
        const ready = [...this.running]
          .filter((w) => w.running && !this.intentional.has(w))
          .sort((a, b) => a.name.localeCompare(b.name, 'en', { numeric: true }));
        return ready.length ? ready[Math.min(ready.length - 1, Math.floor(pick * ready.length))] : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 200 },
    ).catch(() => undefined);
    if (victim) this.intentional.add(victim);
    return victim;
  }

  /** SIGKILLs every worker still running (teardown). */
  async killAll(): Promise<void> {
    await Promise.allSettled(
      [...this.running].map((w) => {
        this.intentional.add(w);
        return w.kill();
      }),
    );
  }

  /** One worker process, its start failures tallied by reason (their last log line). */
  private async spawn(name: string): Promise<ManagedChild> {
    const { run } = this;
    if (!run.workerLogDir) throw new Error('no folder for worker logs');
    try {
      return await spawnWorker(run.workerEnv, name, { logDir: run.workerLogDir, timeoutMs: 120_000 });
    } catch (err) {
      if (err instanceof WorkerStartError) {
        const reason = err.lastLine.replace(/127\.0\.0\.1:\d+/g, '127.0.0.1:<port>').slice(0, 200);
        run.stats.workerSpawnFailureReasons[reason] = (run.stats.workerSpawnFailureReasons[reason] ?? 0) + 1;
        throw new Error(reason, { cause: err });
      }
      throw err;
    }
  }
}
