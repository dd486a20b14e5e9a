// A worker as a real, separate process, started the way the production image
// starts it (`node dist/worker.js`: compiled JS, the pre-built workflow
// bundle), so tests can kill it the way production loses workers: SIGKILL, SIGTERM.
import { mkdtemp, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ManagedChild } from './child.ts';
import { waitFor } from './wait.ts';

import { build, isStale } from '../../scripts/build.mjs';

const projectRoot = path.resolve(import.meta.dirname, '../..');

/**
 * How the worker process is started: the image's CMD (Dockerfile: compiled JS,
 * the pre-built workflow bundle), run from the project folder as the image runs
 * it from /app. The one place to change when the image starts it differently
 * (test/compose.test.ts compares them).
 */
export const WORKER_COMMAND = ['node', 'dist/worker.js'] as const;

let built: Promise<void> | undefined;
/** dist/ is rebuilt (once per process) when src/ changed since the last build. */
function ensureBuilt(): Promise<void> {
  built ??= isStale() ? build({ log: () => {} }) : Promise.resolve();
  return built;
}

export interface SpawnWorkerOptions {
  /** Folder for `<name>.log`; default a new temp folder. */
  logDir?: string;
  /** How long the worker may take to start polling. */
  timeoutMs?: number;
}

/** The worker exited (or never polled) during start; `lastLine` is its last meaningful output line. */
export class WorkerStartError extends Error {
  constructor(
    message: string,
    readonly lastLine: string,
  ) {
    super(message);
    this.name = 'WorkerStartError';
  }
}

export async function spawnWorker(
  env: Record<string, string>,
  name = 'worker',
  options: SpawnWorkerOptions = {},
): Promise<ManagedChild> {
  const logDir = options.logDir ?? (await mkdtemp(path.join(os.tmpdir(), 'mailer-worker-')));
  const logFile = path.join(logDir, `${name}.log`);
  await ensureBuilt();
  const [, ...args] = WORKER_COMMAND;
  const child = ManagedChild.spawn(name, process.execPath, args, logFile, {
    // NODE_ENV as the image sets it.
    env: { ...process.env, NODE_ENV: 'production', MAILER_LOG_LEVEL: 'WARN', ...env },
    cwd: projectRoot,
  });
  // 'exited' ends the wait at once (a thrown error would only be retried until the deadline).
  const state = await waitFor(
    `${name} to poll its task queues`,
    async () => {
      if (!child.running) return 'exited';
      return (await readFile(logFile, 'utf8').catch(() => '')).includes('[worker] polling') ? 'polling' : undefined;
    },
    { timeoutMs: options.timeoutMs ?? 60_000, intervalMs: 200 },
  ).catch(async (err: unknown) => {
    await child.kill();
    throw new WorkerStartError(
      `${name} did not start polling: ${err instanceof Error ? err.message : String(err)}`,
      'not polling in time',
    );
  });
  if (state === 'exited') {
    await child.exited;
    const tail = await child.tail(8);
    // The last line that says something: not a stack frame, not the start banner.
    const lastLine =
      tail
        .split('\n')
        .filter((l) => l.trim() && !l.includes('    at ') && !l.includes('[worker] starting with'))
        .at(-1)
        ?.trim() ?? '(no output)';
    throw new WorkerStartError(
      `${name} exited with ${child.process.exitCode ?? child.process.signalCode} before polling:\n${tail}`,
      lastLine,
    );
  }
  return child;
}
