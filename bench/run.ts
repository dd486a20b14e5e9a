// `npm run bench`: where the time goes and what limits throughput, measured in
// one run on a fresh local stack (real Temporal dev server, Postgres with fsync
// on, the in-process SMTP sink), with every worker in its own process.
//
//   smtp       nodemailer's pooled transport straight into the sink: the SMTP limit
//   engine     the real sendEmail with activities that return at once: the engine floor
//   work       send()'s insert and the three activities in-process, no engine: the work floor
//   pipeline   Mailer.send() → real worker → sent, at saturation; events, CPU and memory per email
//   latency    send() returned → sink accepted, open-loop arrivals at 25/50/75 % of saturation
//   outbox     send({ db }) in a transaction → the relay started the workflow: 1 and 3 workers, steady and a burst
//   ratelimit  EMAIL_RATE_LIMIT with 1, 2, 3 worker processes: is the limit global and exact?
//   backlog    a backlog built while the sink is down, drained under the limit
//   compare    (opt-in) the pipeline with a git revision's worker vs the working tree's, interleaved
//   priority   a high-priority email behind a 2000-email batch under the limit; two fairness keys
//
// This file starts the stack, runs the phases (bench/phases/, one file each)
// in order and writes <out>/<timestamp>.json and .svg (default bench-results/)
// and prints a table. `--smoke` runs every phase at tiny sizes (well under a minute).
import { randomUUID } from 'node:crypto';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { bundleWorkflowCode, DefaultLogger } from '@temporalio/worker';
import pg from 'pg';
import { Mailer } from '../src/index.ts';
import { loadConfig } from '../src/config.ts';
import { createPool } from '../src/db/pool.ts';
import { projectRoot, type Stack, stackEnv, startStack } from '../dev/stack/index.ts';
import { workflowsPath } from '../src/worker.ts';
import { costSummary } from './actions.ts';
import { children } from './children.ts';
import { type BenchContext, interruption, log, sleep } from './context.ts';
import { recordEnvironment } from './environment.ts';
import { trackReceipts } from './measure.ts';
import { options, runs } from './options.ts';
import { backlogPhase } from './phases/backlog.ts';
import { comparePhase } from './phases/compare.ts';
import { enginePhase } from './phases/engine.ts';
import { latencyPhase } from './phases/latency.ts';
import { outboxPhase } from './phases/outbox.ts';
import { pipelinePhase } from './phases/pipeline.ts';
import { priorityPhase } from './phases/priority.ts';
import { rateLimitPhase } from './phases/rate-limit.ts';
import { smtpPhase } from './phases/smtp.ts';
import { workPhase } from './phases/work.ts';
import { cpuDelta, cpuSnapshot } from './proc.ts';
import type { BenchResults, Phase } from './results.ts';
import { round } from './stats.ts';
import { renderChart } from './svg.ts';
import { renderTable } from './table.ts';

// ---------------------------------------------------------------- state & cleanup

let dataDir: string | undefined;
let stackPromise: Promise<Stack> | undefined;
let pool: pg.Pool | undefined;
let admin: pg.Client | undefined;
let connection: Connection | undefined;
let cleaning: Promise<void> | undefined;

function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    await Promise.allSettled([...children].map((c) => c.stop()));
    await Promise.allSettled([pool?.end(), admin?.end(), connection?.close()]);
    const stack = await stackPromise?.catch(() => undefined);
    if (stack) {
      await stack.stop().catch((err: unknown) => log(`stopping the stack: ${String(err)}`));
      // Postgres data may live outside dataDir (see usableDataDir in dev/stack/postgres.ts).
      await stack.postgres?.destroy().catch((err: unknown) => log(`removing Postgres data: ${String(err)}`));
    }
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  })();
  return cleaning;
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (interruption.interrupted) return;
    interruption.interrupted = true;
    log(`${signal}: stopping workers and the stack, removing data…`);
    void cleanup().finally(() => process.exit(130));
  });
}

// ---------------------------------------------------------------- main

const startedAt = new Date();
const results: BenchResults = {
  startedAt: startedAt.toISOString(),
  finishedAt: '',
  durationSeconds: 0,
  command: process.argv.slice(1),
  options,
  environment: {},
  settings: {},
  phases: {},
  phaseSeconds: {},
  notes: [],
};

try {
  await main();
} catch (err) {
  if (!interruption.interrupted) {
    console.error(`[bench] failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    process.exitCode = 1;
  }
} finally {
  if (!interruption.interrupted) await cleanup();
}
if (!interruption.interrupted) process.exit(process.exitCode ?? 0);

async function main(): Promise<void> {
  dataDir = await mkdtemp(path.join(os.tmpdir(), 'mailer-bench-'));
  // The postgres user must enter it, so that Postgres keeps its data inside.
  await chmod(dataDir, 0o755);
  const env = { ...process.env };
  for (const name of ['TEMPORAL_ADDRESS', 'DATABASE_URL', 'SMTP_URL']) delete env[name];

  // The machine may be shared: measure what others use before we add anything.
  const idleBefore = cpuSnapshot([]);
  await sleep(2000);
  const idle = cpuDelta(idleBefore, cpuSnapshot([]));
  const busyBefore = Math.max(0, (idle.machineBusyMs - idle.totalMs) / idle.machineCapacityMs);
  results.environment.machineBusyBeforeStart = round(busyBefore * 100, 1);
  if (busyBefore > 0.15) {
    results.notes.push(
      `Before the bench started, other processes kept ${(busyBefore * 100).toFixed(0)} % of the machine busy: figures are lower than on a quiet machine.`,
    );
    log(`warning: ${results.notes.at(-1)}`);
  }
  log(`starting the stack in ${dataDir} (Postgres with fsync, as in production) and bundling the workflows…`);
  const setupStarted = performance.now();
  stackPromise = startStack({ dataDir, ephemeral: false, env, log: (line) => log(`stack: ${line}`) });
  const bundles = Promise.all([
    bundleWorkflowCode({ workflowsPath, logger: new DefaultLogger('WARN') }),
    bundleWorkflowCode({
      workflowsPath: path.join(import.meta.dirname, 'workflows.ts'),
      logger: new DefaultLogger('WARN'),
    }),
  ]);
  const [stack, [realBundle, floorBundle]] = await Promise.all([stackPromise, bundles]);
  const realBundlePath = path.join(dataDir, 'send-email-bundle.js');
  const floorBundlePath = path.join(dataDir, 'floor-bundle.js');
  await writeFile(realBundlePath, realBundle.code);
  await writeFile(floorBundlePath, floorBundle.code);
  if (!stack.smtp) throw new Error('the stack has no SMTP sink');
  const sink = stack.smtp;
  const info = stack.info;
  log(`stack up and workflows bundled in ${((performance.now() - setupStarted) / 1000).toFixed(1)} s`);

  // Shared client-side resources: one pool as Mailer.connect() builds it, one Temporal client.
  const sendPool = createPool(info.databaseUrl);
  pool = sendPool;
  admin = new pg.Client({ connectionString: info.databaseUrl });
  await admin.connect();
  connection = await Connection.connect({ address: info.temporalAddress });
  const temporal = new Client({ connection, namespace: info.temporalNamespace });

  const baseEnv = { ...stackEnv(info), RECONCILE_INTERVAL: 'off', WORKER_SHUTDOWN_GRACE: '5s' };
  const ctx: BenchContext = {
    options,
    results,
    runId: randomUUID().slice(0, 8),
    info,
    sink,
    temporal,
    db: admin,
    receipts: trackReceipts(sink),
    baseEnv,
    workerEnv: (taskQueue, extra = {}) => ({
      ...baseEnv,
      TEMPORAL_TASK_QUEUE: taskQueue,
      BENCH_BUNDLE: realBundlePath,
      ...extra,
    }),
    mailerFor: (taskQueue) =>
      Mailer.connect({
        config: loadConfig({ ...stackEnv(info), TEMPORAL_TASK_QUEUE: taskQueue }),
        pool: sendPool,
        temporal,
      }),
    realBundlePath,
    floorBundlePath,
  };
  // Applies the migrations once, before any worker starts.
  await ctx.mailerFor('bench-migrate');

  await recordEnvironment(results, stack, admin, baseEnv, dataDir);
  const runCpuStart = cpuSnapshot([]);

  // ------------------------------------------------------------ phases
  const timed = async <T>(phase: Phase, run: () => Promise<T>): Promise<T> => {
    const t = performance.now();
    const value = await run();
    results.phaseSeconds[phase] = round((performance.now() - t) / 1000, 1);
    return value;
  };
  results.phaseSeconds.setup = round((performance.now() - setupStarted) / 1000, 1);
  if (runs('smtp')) results.phases.smtp = await timed('smtp', () => smtpPhase(ctx));
  if (runs('engine-minimal'))
    results.phases['engine-minimal'] = await timed('engine-minimal', () =>
      enginePhase(ctx, 'engine-minimal', 'minimalWorkflow'),
    );
  if (runs('engine')) results.phases.engine = await timed('engine', () => enginePhase(ctx, 'engine', 'sendEmail'));
  if (runs('engine-regular'))
    results.phases['engine-regular'] = await timed('engine-regular', () =>
      enginePhase(ctx, 'engine-regular', 'floorEmailRegular'),
    );
  if (runs('work')) results.phases.work = await timed('work', () => workPhase(ctx));
  if (runs('pipeline')) results.phases.pipeline = await timed('pipeline', () => pipelinePhase(ctx));
  if (runs('latency')) results.phases.latency = await timed('latency', () => latencyPhase(ctx));
  if (ctx.warmWorker) await ctx.warmWorker.child.stop();
  if (runs('outbox')) results.phases.outbox = await timed('outbox', () => outboxPhase(ctx));
  if (runs('ratelimit')) results.phases.ratelimit = await timed('ratelimit', () => rateLimitPhase(ctx));
  if (runs('backlog')) results.phases.backlog = await timed('backlog', () => backlogPhase(ctx));
  if (runs('priority')) results.phases.priority = await timed('priority', () => priorityPhase(ctx));
  if (runs('compare')) results.phases.compare = await timed('compare', () => comparePhase(ctx, dataDir!));

  // ------------------------------------------------------------ output
  results.costs = await costSummary(results, path.join(projectRoot, 'test', 'fixtures', 'histories'));
  const run = cpuDelta(runCpuStart, cpuSnapshot([]));
  const outside = Math.max(0, (run.machineBusyMs - run.totalMs) / run.machineCapacityMs);
  results.environment.machineBusyOutsideBench = round(outside * 100, 1);
  results.notes.push(
    `During the run, processes outside the bench (other programs, kernel threads such as the filesystem journal, the hypervisor's steal) used ${(outside * 100).toFixed(0)} % of the machine; the bench's own processes used ${((run.totalMs / run.machineCapacityMs) * 100).toFixed(0)} %.`,
  );
  const finishedAt = new Date();
  results.finishedAt = finishedAt.toISOString();
  results.durationSeconds = round((finishedAt.getTime() - startedAt.getTime()) / 1000, 1);
  await mkdir(options.out, { recursive: true });
  const stamp = startedAt
    .toISOString()
    .replace(/\.\d+Z$/, 'Z')
    .replace(/:/g, '-');
  const jsonFile = path.join(options.out, `${stamp}.json`);
  const svgFile = path.join(options.out, `${stamp}.svg`);
  await writeFile(jsonFile, `${JSON.stringify(results, null, 2)}\n`);
  await writeFile(svgFile, renderChart(results));
  console.log(renderTable(results));
  log(`wall time per phase (s): ${JSON.stringify(results.phaseSeconds)}`);
  console.log(
    `\nwrote ${path.relative(process.cwd(), jsonFile) || jsonFile} and ${path.relative(process.cwd(), svgFile) || svgFile} (${results.durationSeconds} s in all)`,
  );
}
