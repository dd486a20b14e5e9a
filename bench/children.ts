// The bench's child processes (bench/worker-child.ts over an IPC channel):
// workers run in their own processes, as in production, so their CPU and
// memory can be measured on their own. Every live child is in `children`, so
// that an interrupted run can stop them all.
import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { projectRoot } from '../dev/stack/index.ts';
import { log } from './context.ts';
import type { ChildMessage } from './worker-child.ts';

/** Variables the service reads: the bench sets each explicitly, never inherits them. */
// (TEMPORAL_CLI_PATH and TEMPORAL_TEST_SERVER_PATH only say where binaries are, and stay.)
const SERVICE_VARIABLE =
  /^(TEMPORAL_(?!CLI_PATH$|TEST_SERVER_PATH$)|DATABASE_URL|SMTP_|EMAIL_|MESSAGE_ID_DOMAIN|DELIVER_|WORKER_|RECONCILE_|UNCERTAIN_|LOG_|DKIM_|PAYLOAD_|METRICS_)/;
function cleanEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const name of Object.keys(env)) if (SERVICE_VARIABLE.test(name)) delete env[name];
  return env;
}

export const children = new Set<BenchChild>();

const CHILD_SCRIPT = path.join(import.meta.dirname, 'worker-child.ts');

export class BenchChild {
  readonly output: string[] = [];
  readonly exited: Promise<number | null>;
  private readonly messages: ChildMessage[] = [];
  private readonly waiters: (() => void)[] = [];

  constructor(
    readonly name: string,
    readonly process: ChildProcess,
  ) {
    const keep = (chunk: Buffer) => {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) this.output.push(line);
      if (this.output.length > 200) this.output.splice(0, this.output.length - 200);
    };
    process.stdout?.on('data', keep);
    process.stderr?.on('data', keep);
    process.on('message', (m: ChildMessage) => {
      this.messages.push(m);
      for (const w of this.waiters.splice(0)) w();
    });
    this.exited = new Promise((resolve) => {
      process.once('exit', (code) => {
        children.delete(this);
        for (const w of this.waiters.splice(0)) w();
        resolve(code);
      });
    });
    children.add(this);
  }

  get pid(): number {
    return this.process.pid!;
  }

  get running(): boolean {
    return this.process.exitCode === null && this.process.signalCode === null;
  }

  tail(lines = 30): string {
    return this.output.slice(-lines).join('\n');
  }

  /** The first message of `type`; fails if the child reports an error or exits first. */
  async waitFor<T extends ChildMessage['type']>(
    type: T,
    timeoutMs: number,
  ): Promise<Extract<ChildMessage, { type: T }>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.messages.find((m) => m.type === type);
      if (found) return found as Extract<ChildMessage, { type: T }>;
      const error = this.messages.find((m) => m.type === 'error');
      if (error && error.type === 'error') throw new Error(`${this.name} failed: ${error.message}`);
      if (!this.running)
        throw new Error(
          `${this.name} exited (${this.process.exitCode ?? this.process.signalCode}) before "${type}":\n${this.tail()}`,
        );
      if (Date.now() > deadline) throw new Error(`${this.name}: no "${type}" within ${timeoutMs} ms:\n${this.tail()}`);
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 250);
      });
    }
  }

  /** A message to the child over IPC (`go` starts the work floor's loop). */
  tell(message: { type: 'go' }): void {
    this.process.send(message);
  }

  /** SIGTERM (the SDK drains the workers), SIGKILL after `graceMs`. */
  async stop(graceMs = 15_000): Promise<void> {
    if (!this.running) return;
    const t = performance.now();
    this.process.kill('SIGTERM');
    const timer = setTimeout(() => this.process.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
    log(`${this.name}: stopped in ${((performance.now() - t) / 1000).toFixed(1)} s`);
  }
}

/** `root`: another copy of the project (the compare phase's baseline) whose bench/worker-child.ts to run. */
export async function spawnChild(
  name: string,
  mode: 'pipeline' | 'floor' | 'smtp' | 'work',
  env: Record<string, string>,
  root?: string,
): Promise<BenchChild> {
  const proc = spawn(
    process.execPath,
    ['--import', 'tsx', root ? path.join(root, 'bench', 'worker-child.ts') : CHILD_SCRIPT],
    {
      cwd: root ?? projectRoot,
      env: { ...cleanEnv(), ...env, BENCH_MODE: mode },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    },
  );
  const child = new BenchChild(name, proc);
  const started = performance.now();
  try {
    await child.waitFor('ready', 60_000);
    log(`${name}: pid ${child.pid}, ready in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  } catch (err) {
    await child.stop(2000);
    throw err;
  }
  return child;
}
