// How long a worker takes from process start to polling: the production
// worker (`node dist/worker.js`, the bundle built at build time) against the
// same worker run from source under tsx (webpack bundles the workflows at
// every start). Interleaved runs on one local stack; prints each and the medians.
//   npx tsx scripts/measure-worker-start.ts [--runs 3]
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { ManagedChild } from '../dev/stack/child.ts';
import { stackEnv, startStack } from '../dev/stack/index.ts';
import { waitFor } from '../dev/stack/wait.ts';
import { build, isStale } from './build.mjs';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '3' } } });
const runs = Number(values.runs);
const root = path.resolve(import.meta.dirname, '..');
const variants = {
  'node dist/worker.js': [path.join(root, 'dist/worker.js')],
  'tsx src/worker.ts': ['--import', 'tsx', path.join(root, 'src/worker.ts')],
};

if (isStale()) await build();
const dataDir = await mkdtemp(path.join(os.tmpdir(), 'mailer-start-'));
const stack = await startStack({ dataDir, ephemeral: true, log: () => {} });
const times: Record<string, number[]> = Object.fromEntries(Object.keys(variants).map((k) => [k, []]));
try {
  for (let i = 0; i < runs; i++) {
    for (const [name, args] of Object.entries(variants)) {
      const log = path.join(dataDir, `worker-${i}-${name.split(' ')[0]}.log`);
      const started = Date.now();
      const child = ManagedChild.spawn('worker', process.execPath, args, log, {
        env: {
          ...process.env,
          ...stackEnv(stack.info),
          RECONCILE_INTERVAL: 'off',
          MAILER_LOG_LEVEL: 'WARN',
          TEMPORAL_TASK_QUEUE: `start-${i}`,
        },
      });
      await waitFor(
        'the worker to poll',
        async () => (await readFile(log, 'utf8').catch(() => '')).includes('[worker] polling'),
        { timeoutMs: 120_000, intervalMs: 50 },
      );
      const ms = Date.now() - started;
      times[name]!.push(ms);
      console.log(`${name.padEnd(22)} run ${i + 1}: ${(ms / 1000).toFixed(2)} s to polling`);
      await child.stop(10_000);
    }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  for (const [name, xs] of Object.entries(times))
    console.log(
      `${name.padEnd(22)} median ${(median(xs) / 1000).toFixed(2)} s (${os.cpus().length} cores, load ${os.loadavg()[0]!.toFixed(1)})`,
    );
} finally {
  await stack.stop();
  await stack.postgres?.destroy();
  await rm(dataDir, { recursive: true, force: true });
}
