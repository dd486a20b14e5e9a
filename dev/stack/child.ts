// A child process the stack owns: output goes to a log file (so a failing
// start can show why), and stopping escalates from SIGTERM to SIGKILL so no
// orphan keeps a port after the stack is gone.
import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';

const live = new Set<ManagedChild>();

// Last line of defence: if the host process exits without calling stop()
// (an uncaught error), do not leave servers running behind it.
process.once('exit', () => {
  for (const child of live) child.process.kill('SIGKILL');
});

export class ManagedChild {
  readonly exited: Promise<number | null>;
  private constructor(
    readonly name: string,
    readonly process: ChildProcess,
    readonly logFile: string,
  ) {
    this.exited = new Promise((resolve) => {
      process.once('exit', (code) => {
        live.delete(this);
        resolve(code);
      });
    });
    live.add(this);
  }

  static spawn(
    name: string,
    command: string,
    args: string[],
    logFile: string,
    options: { uid?: number; gid?: number; env?: NodeJS.ProcessEnv; cwd?: string } = {},
  ): ManagedChild {
    const log = createWriteStream(logFile, { flags: 'a' });
    // A log we cannot write must not take the stack down with it.
    log.on('error', () => {});
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options });
    child.stdout?.pipe(log, { end: false });
    child.stderr?.pipe(log, { end: false });
    // 'close', not 'exit': output can still arrive after the process exited,
    // until its pipes close; ending the log earlier makes those writes fail.
    child.once('close', () => log.end());
    return new ManagedChild(name, child, logFile);
  }

  get running(): boolean {
    return this.process.exitCode === null && this.process.signalCode === null;
  }

  /** Asks the process to stop with `signal`, escalating to SIGKILL after `graceMs`. */
  async stop(graceMs = 10_000, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    if (!this.running) return;
    this.process.kill(signal);
    const timer = setTimeout(() => this.process.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }

  async kill(): Promise<void> {
    if (!this.running) return;
    this.process.kill('SIGKILL');
    await this.exited;
  }

  async tail(lines = 20): Promise<string> {
    const text = await readFile(this.logFile, 'utf8').catch(() => '');
    return text.trimEnd().split('\n').slice(-lines).join('\n');
  }
}
