// A worker as a real, separate process (`node --import tsx src/worker.ts`),
// so tests can kill it the way production loses workers: SIGKILL, SIGTERM.
import { mkdtemp, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ManagedChild } from './child.ts';
import { waitFor } from './wait.ts';

const workerScript = path.resolve(import.meta.dirname, '../worker.ts');

export async function spawnWorker(env: Record<string, string>, name = 'worker'): Promise<ManagedChild> {
  const logFile = path.join(await mkdtemp(path.join(os.tmpdir(), 'mailer-worker-')), `${name}.log`);
  const child = ManagedChild.spawn(name, process.execPath, ['--import', 'tsx', workerScript], logFile, {
    env: { ...process.env, LOG_LEVEL: 'WARN', ...env },
  });
  // 'exited' ends the wait at once (a thrown error would only be retried until the deadline).
  const state = await waitFor(`${name} to poll its task queues`, async () => {
    if (!child.running) return 'exited';
    return (await readFile(logFile, 'utf8').catch(() => '')).includes('polling') ? 'polling' : undefined;
  }, { timeoutMs: 60_000, intervalMs: 200 });
  if (state === 'exited') throw new Error(`${name} exited before polling:\n${await child.tail()}`);
  return child;
}
