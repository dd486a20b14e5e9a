// `npm run bench`: where the time goes and what limits throughput, measured in
// one run on a fresh local stack (real Temporal dev server, Postgres with fsync
// on, the in-process SMTP sink), with every worker in its own process.
//
//   smtp       nodemailer's pooled transport straight into the sink: the SMTP limit
//   engine     the real sendEmail with activities that return at once: the engine floor
//   pipeline   Mailer.send() → real worker → sent, at saturation; events, CPU and memory per email
//   latency    send() returned → sink accepted, open-loop arrivals at 25/50/75 % of saturation
//   ratelimit  EMAIL_RATE_LIMIT with 1, 2, 3 worker processes: is the limit global and exact?
//   backlog    a backlog built while the sink is down, drained under the limit
//
// Writes <out>/<timestamp>.json and .svg (default bench-results/) and prints a
// table. `--smoke` runs every phase at tiny sizes (well under a minute).
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import protos from '@temporalio/proto';
import { bundleWorkflowCode, DefaultLogger } from '@temporalio/worker';
import pg from 'pg';
import { Mailer } from '../src/client.ts';
import { loadConfig } from '../src/config.ts';
import { createPool } from '../src/db/pool.ts';
import { startEmailWorkflow } from '../src/email/start.ts';
import { workflowIdFor } from '../src/email/store.ts';
import { EmailStatus } from '../src/search-attributes.ts';
import { projectRoot, type Stack, stackEnv, startStack } from '../src/stack/index.ts';
import type { ReceivedMessage, SmtpSink } from '../src/stack/smtp-sink.ts';
import { DEV_SERVER_DYNAMIC_CONFIG } from '../src/stack/temporal-server.ts';
import { workflowsPath } from '../src/worker.ts';
import { cmdline, cpuDelta, cpuSnapshot, machineInfo, memoryOf, treeRss, type CpuSnapshot } from './proc.ts';
import {
  type BacklogResult,
  type BenchResults,
  type CpuResult,
  type EngineResult,
  type HistorySample,
  type LatencyLevel,
  type LatencyResult,
  DEFAULT_PHASES,
  type Phase,
  PHASES,
  type PipelineResult,
  type RateLimitResult,
  type RateLimitRun,
  type SmtpResult,
} from './results.ts';
import { distribution, type Distribution, maxInWindow, perSecond, round } from './stats.ts';
import { renderChart } from './svg.ts';
import { renderTable } from './table.ts';
import type { ChildMessage } from './worker-child.ts';

// ---------------------------------------------------------------- options

const USAGE = `usage: npm run bench -- [options]
  --emails N            engine-floor and saturation phase size (default 300; smoke 40)
  --rate-seconds S      seconds per rate-limit run (default 60; smoke 5)
  --rate-workers LIST   worker processes per rate-limit run (default 1,2,3; smoke 1)
  --rate-limit R        EMAIL_RATE_LIMIT per second for that phase (default 5)
  --backlog N           emails in the backlog phase (default 200; smoke 40)
  --drain-rate R        EMAIL_RATE_LIMIT per second while draining the backlog (default 50)
  --latency-seconds S   seconds of open-loop arrivals per load level (default 20; smoke 2)
  --concurrency C       send() calls in flight at saturation (default 64)
  --saturation-rate R   emails/s to base the latency levels on when the pipeline phase is not run
  --phases a,b,c        any of ${PHASES.join(',')}
                        (default: all but engine-regular, the workflow shape before the fast path)
  --out DIR             where results go (default bench-results/)
  --smoke               tiny sizes: the whole run in well under a minute`;

const { values: args } = parseArgs({
  options: {
    emails: { type: 'string' },
    'rate-seconds': { type: 'string' },
    'rate-workers': { type: 'string' },
    'rate-limit': { type: 'string' },
    backlog: { type: 'string' },
    'drain-rate': { type: 'string' },
    'latency-seconds': { type: 'string' },
    concurrency: { type: 'string' },
    'saturation-rate': { type: 'string' },
    phases: { type: 'string' },
    out: { type: 'string' },
    smoke: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
  strict: true,
});
if (args.help) {
  console.log(USAGE);
  process.exit(0);
}

function positive(name: string, raw: string | undefined, fallback: number, integer = true): number {
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0 || (integer && !Number.isInteger(value))) {
    console.error(`--${name}: "${raw}" is not a positive ${integer ? 'whole ' : ''}number\n\n${USAGE}`);
    process.exit(2);
  }
  return value;
}

const smoke = args.smoke === true;
const options = {
  smoke,
  emails: positive('emails', args.emails, smoke ? 40 : 300),
  smtpMessages: smoke ? 100 : 2000,
  rateSeconds: positive('rate-seconds', args['rate-seconds'], smoke ? 5 : 60, false),
  rateWorkers: (args['rate-workers'] ?? (smoke ? '1' : '1,2,3')).split(',').map((w) => positive('rate-workers', w.trim(), 1)),
  rateLimit: positive('rate-limit', args['rate-limit'], 5, false),
  backlog: positive('backlog', args.backlog, smoke ? 40 : 200),
  drainRate: positive('drain-rate', args['drain-rate'], 50, false),
  latencySeconds: positive('latency-seconds', args['latency-seconds'], smoke ? 2 : 20, false),
  latencyLoads: [25, 50, 75],
  concurrency: positive('concurrency', args.concurrency, 64),
  smtpInFlight: 32,
  saturationRate: args['saturation-rate'] === undefined ? undefined : positive('saturation-rate', args['saturation-rate'], 1, false),
  phases: (args.phases ?? DEFAULT_PHASES.join(',')).split(',').map((p) => p.trim()).filter(Boolean) as Phase[],
  out: path.resolve(args.out ?? path.join(projectRoot, 'bench-results')),
  historySamples: 5,
  drainRetryMaxInterval: '5s',
  /** How long the outage lasts at most after the backlog is submitted (until every email has failed once). */
  outageWaitSeconds: smoke ? 3 : 10,
};
for (const phase of options.phases) {
  if (!PHASES.includes(phase)) {
    console.error(`--phases: unknown phase "${phase}" (known: ${PHASES.join(', ')})`);
    process.exit(2);
  }
}
if (options.phases.includes('latency') && !options.phases.includes('pipeline') && options.saturationRate === undefined) {
  console.error('--phases: latency needs the saturation rate: run it with pipeline, or give --saturation-rate');
  process.exit(2);
}
const runs = (phase: Phase) => options.phases.includes(phase);

// ---------------------------------------------------------------- helpers

const EventType = protos.temporal.api.enums.v1.EventType;
const log = (line: string) => console.error(`[bench] ${line}`);
/** Rate-limit runs: the steady window starts this many seconds after the first delivery. */
const STEADY_AFTER_S = 2;
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const runId = randomUUID().slice(0, 8);

/** Variables the service reads: the bench sets each explicitly, never inherits them. */
// (TEMPORAL_CLI_PATH and TEMPORAL_TEST_SERVER_PATH only say where binaries are, and stay.)
const SERVICE_VARIABLE = /^(TEMPORAL_(?!CLI_PATH$|TEST_SERVER_PATH$)|DATABASE_URL|SMTP_|EMAIL_|MESSAGE_ID_DOMAIN|DELIVER_|WORKER_|RECONCILE_|UNCERTAIN_|LOG_|DKIM_|PAYLOAD_|METRICS_)/;
function cleanEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const name of Object.keys(env)) if (SERVICE_VARIABLE.test(name)) delete env[name];
  return env;
}

/** A representative transactional email: a short text part and an HTML part. */
const TEXT = `Hello,\n\nThank you for your order. Your invoice is ready and can be viewed in your account.\n\n${'Order line: widget, quantity 1, price 9.99 EUR.\n'.repeat(6)}\nRegards,\nAcme Billing`;
const HTML = `<html><body><p>Hello,</p><p>Thank you for your order. Your invoice is ready.</p><table>${'<tr><td>widget</td><td>1</td><td>9.99 EUR</td></tr>'.repeat(20)}</table><p>Regards,<br>Acme Billing</p></body></html>`;
const FROM = 'Acme Billing <billing@acme.example>';
const emailInput = (tag: string, i: number) => ({ from: FROM, to: [`user${i}@example.com`], subject: `Bench ${tag} ${i}`, text: TEXT, html: HTML });

interface SendRecord {
  id: string;
  scheduledAt: number;
  calledAt: number;
  returnedAt: number;
}

// ---------------------------------------------------------------- state & cleanup

let dataDir: string | undefined;
let stackPromise: Promise<Stack> | undefined;
let pool: pg.Pool | undefined;
let admin: pg.Client | undefined;
let connection: Connection | undefined;
const children = new Set<BenchChild>();
let cleaning: Promise<void> | undefined;

function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    await Promise.allSettled([...children].map((c) => c.stop()));
    await Promise.allSettled([pool?.end(), admin?.end(), connection?.close()]);
    const stack = await stackPromise?.catch(() => undefined);
    if (stack) {
      await stack.stop().catch((err: unknown) => log(`stopping the stack: ${String(err)}`));
      // Postgres data may live outside dataDir (see usableDataDir in src/stack/postgres.ts).
      await stack.postgres?.destroy().catch((err: unknown) => log(`removing Postgres data: ${String(err)}`));
    }
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  })();
  return cleaning;
}

let interrupted = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (interrupted) return;
    interrupted = true;
    log(`${signal}: stopping workers and the stack, removing data…`);
    void cleanup().finally(() => process.exit(130));
  });
}

// ---------------------------------------------------------------- child processes

const CHILD_SCRIPT = path.join(import.meta.dirname, 'worker-child.ts');

class BenchChild {
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
  async waitFor<T extends ChildMessage['type']>(type: T, timeoutMs: number): Promise<Extract<ChildMessage, { type: T }>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.messages.find((m) => m.type === type);
      if (found) return found as Extract<ChildMessage, { type: T }>;
      const error = this.messages.find((m) => m.type === 'error');
      if (error && error.type === 'error') throw new Error(`${this.name} failed: ${error.message}`);
      if (!this.running) throw new Error(`${this.name} exited (${this.process.exitCode ?? this.process.signalCode}) before "${type}":\n${this.tail()}`);
      if (Date.now() > deadline) throw new Error(`${this.name}: no "${type}" within ${timeoutMs} ms:\n${this.tail()}`);
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 250);
      });
    }
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

async function spawnChild(name: string, mode: 'pipeline' | 'floor' | 'smtp', env: Record<string, string>): Promise<BenchChild> {
  const proc = spawn(process.execPath, ['--import', 'tsx', CHILD_SCRIPT], {
    cwd: projectRoot,
    env: { ...cleanEnv(), ...env, BENCH_MODE: mode },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
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
  if (!interrupted) {
    console.error(`[bench] failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    process.exitCode = 1;
  }
} finally {
  if (!interrupted) await cleanup();
}
if (!interrupted) process.exit(process.exitCode ?? 0);

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
    results.notes.push(`Before the bench started, other processes kept ${(busyBefore * 100).toFixed(0)} % of the machine busy: figures are lower than on a quiet machine.`);
    log(`warning: ${results.notes.at(-1)}`);
  }
  log(`starting the stack in ${dataDir} (Postgres with fsync, as in production) and bundling the workflows…`);
  const setupStarted = performance.now();
  stackPromise = startStack({ dataDir, ephemeral: false, env, log: (line) => log(`stack: ${line}`) });
  const bundles = Promise.all([
    bundleWorkflowCode({ workflowsPath, logger: new DefaultLogger('WARN') }),
    bundleWorkflowCode({ workflowsPath: path.join(import.meta.dirname, 'workflows.ts'), logger: new DefaultLogger('WARN') }),
  ]);
  const [stack, [realBundle, floorBundle]] = await Promise.all([stackPromise, bundles]);
  const realBundlePath = path.join(dataDir, 'send-email-bundle.js');
  const floorBundlePath = path.join(dataDir, 'floor-bundle.js');
  await writeFile(realBundlePath, realBundle.code);
  await writeFile(floorBundlePath, floorBundle.code);
  if (!stack.smtp) throw new Error('the stack has no SMTP sink');
  const sink: SmtpSink = stack.smtp;
  const info = stack.info;
  log(`stack up and workflows bundled in ${((performance.now() - setupStarted) / 1000).toFixed(1)} s`);

  // Shared client-side resources: one pool as Mailer.connect() builds it, one Temporal client.
  pool = createPool(info.databaseUrl);
  admin = new pg.Client({ connectionString: info.databaseUrl });
  await admin.connect();
  connection = await Connection.connect({ address: info.temporalAddress });
  const temporal = new Client({ connection, namespace: info.temporalNamespace });
  const db = admin;

  const receipts = trackReceipts(sink);
  const baseEnv = { ...stackEnv(info), RECONCILE_INTERVAL: 'off', WORKER_SHUTDOWN_GRACE: '5s' };
  /** The real worker (startWorker) with the pre-built bundle of src/workflows. */
  const workerEnv = (taskQueue: string, extra: Record<string, string> = {}) => ({ ...baseEnv, TEMPORAL_TASK_QUEUE: taskQueue, BENCH_BUNDLE: realBundlePath, ...extra });
  const mailerFor = async (taskQueue: string) => Mailer.connect({ config: loadConfig({ ...stackEnv(info), TEMPORAL_TASK_QUEUE: taskQueue }), pool, temporal });
  // Applies the migrations once, before any worker starts.
  await mailerFor('bench-migrate');

  await recordEnvironment(stack, db, baseEnv);
  const runCpuStart = cpuSnapshot([]);

  // ------------------------------------------------------------ phases
  let workerForLatency: { child: BenchChild; mailer: Mailer; taskQueue: string } | undefined;

  const timed = async <T>(phase: Phase, run: () => Promise<T>): Promise<T> => {
    const t = performance.now();
    const value = await run();
    results.phaseSeconds[phase] = round((performance.now() - t) / 1000, 1);
    return value;
  };
  results.phaseSeconds.setup = round((performance.now() - setupStarted) / 1000, 1);
  if (runs('smtp')) results.phases.smtp = await timed('smtp', smtpPhase);
  if (runs('engine-minimal')) results.phases['engine-minimal'] = await timed('engine-minimal', () => enginePhase('engine-minimal', 'minimalWorkflow'));
  if (runs('engine')) results.phases.engine = await timed('engine', () => enginePhase('engine', 'sendEmail'));
  if (runs('engine-regular')) results.phases['engine-regular'] = await timed('engine-regular', () => enginePhase('engine-regular', 'floorEmailRegular'));
  if (runs('pipeline')) results.phases.pipeline = await timed('pipeline', pipelinePhase);
  if (runs('latency')) results.phases.latency = await timed('latency', latencyPhase);
  if (workerForLatency) await workerForLatency.child.stop();
  if (runs('ratelimit')) results.phases.ratelimit = await timed('ratelimit', rateLimitPhase);
  if (runs('backlog')) results.phases.backlog = await timed('backlog', backlogPhase);

  // ------------------------------------------------------------ output
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
  const stamp = startedAt.toISOString().replace(/\.\d+Z$/, 'Z').replace(/:/g, '-');
  const jsonFile = path.join(options.out, `${stamp}.json`);
  const svgFile = path.join(options.out, `${stamp}.svg`);
  await writeFile(jsonFile, `${JSON.stringify(results, null, 2)}\n`);
  await writeFile(svgFile, renderChart(results));
  console.log(renderTable(results));
  log(`wall time per phase (s): ${JSON.stringify(results.phaseSeconds)}`);
  console.log(`\nwrote ${path.relative(process.cwd(), jsonFile) || jsonFile} and ${path.relative(process.cwd(), svgFile) || svgFile} (${results.durationSeconds} s in all)`);
  return;

  // ============================================================ phase 1: SMTP limit
  async function smtpPhase(): Promise<SmtpResult> {
    const messages = options.smtpMessages;
    log(`smtp: ${messages} messages through a pooled nodemailer transport (pool ${loadConfig({ ...baseEnv }).smtp.poolSize}), ${options.smtpInFlight} in flight, from a child process…`);
    const child = await spawnChild('smtp client', 'smtp', {
      ...baseEnv,
      BENCH_SMTP_MESSAGES: String(messages),
      BENCH_SMTP_IN_FLIGHT: String(options.smtpInFlight),
      BENCH_SMTP_MESSAGE: JSON.stringify({ from: FROM, subject: 'Bench smtp', text: TEXT, html: HTML }),
    });
    const done = await child.waitFor('smtp-done', 600_000);
    await child.stop();
    if (done.failed) results.notes.push(`smtp: ${done.failed} of ${messages} sends failed (first: ${done.firstError})`);
    const result: SmtpResult = {
      messages,
      inFlight: options.smtpInFlight,
      poolSize: loadConfig({ ...baseEnv }).smtp.poolSize,
      failed: done.failed,
      elapsedSeconds: round(done.elapsedMs / 1000, 3),
      perSecond: round(done.sent / (done.elapsedMs / 1000), 1),
    };
    log(`smtp: ${result.perSecond} messages/s`);
    return result;
  }

  // ============================================================ phase 2: engine floor
  async function enginePhase(
    phase: 'engine' | 'engine-regular' | 'engine-minimal',
    workflowType: 'sendEmail' | 'floorEmailRegular' | 'minimalWorkflow',
  ): Promise<EngineResult> {
    const n = options.emails;
    const taskQueue = `bench-${phase}-${runId}`;
    const shape = {
      sendEmail: 'sendEmail workflows (the real one) with no-op activities',
      floorEmailRegular: 'empty sendEmail-shaped workflows (3 regular no-op activities, 2 upserts: the shape before the fast path)',
      minimalWorkflow: 'minimal workflows (1 no-op activity on the same queue, nothing else)',
    }[workflowType];
    log(`${phase}: ${n} ${shape} on "${taskQueue}", ${options.concurrency} starts in flight…`);
    const bundle = workflowType === 'sendEmail' ? realBundlePath : floorBundlePath;
    const child = await spawnChild('engine-floor worker', 'floor', { ...baseEnv, TEMPORAL_TASK_QUEUE: taskQueue, BENCH_BUNDLE: bundle });
    const floorConfig = loadConfig({ ...stackEnv(info), TEMPORAL_TASK_QUEUE: taskQueue });
    try {
      const cpuBefore = cpuSnapshot([child.pid]);
      const started = Date.now();
      const ids: string[] = [];
      let next = 0;
      await Promise.all(
        Array.from({ length: options.concurrency }, async () => {
          for (let i = next++; i < n; i = next++) {
            const emailId = randomUUID();
            if (workflowType === 'sendEmail') {
              // Started the one way the product starts it.
              ids[i] = workflowIdFor(emailId);
              if (!(await startEmailWorkflow(temporal, floorConfig, emailId))) throw new Error(`${phase}: Temporal did not accept workflow ${ids[i]}`);
              continue;
            }
            const workflowId = `floor-${emailId}`;
            ids[i] = workflowId;
            if (workflowType === 'minimalWorkflow') {
              await temporal.workflow.start(workflowType, { taskQueue, workflowId, args: [{ emailId }] });
              continue;
            }
            // The start options of startEmailWorkflow (src/email/start.ts).
            await temporal.workflow.start(workflowType, {
              taskQueue,
              workflowId,
              args: [{ emailId }],
              workflowIdConflictPolicy: 'USE_EXISTING',
              workflowIdReusePolicy: 'ALLOW_DUPLICATE_FAILED_ONLY',
              typedSearchAttributes: [{ key: EmailStatus, value: 'queued' }],
              staticSummary: `Email ${emailId}`,
              staticDetails: 'Send now',
            });
          }
        }),
      );
      const startSeconds = (Date.now() - started) / 1000;
      const query = `TaskQueue = "${taskQueue}" AND ExecutionStatus = "Completed"`;
      log(`${phase}: ${n} started in ${startSeconds.toFixed(1)} s; waiting for them to complete…`);
      const completed = await waitForClosed(temporal, taskQueue, n, phase);
      const cpuAfter = cpuSnapshot([child.pid]);
      const closed = await closeTimes(temporal, query);
      const lastClose = closed.last;
      const elapsedSeconds = (lastClose - started) / 1000;
      const historyEvents = await historySample(temporal, ids);
      const result: EngineResult = {
        workflowType,
        workflows: n,
        completed,
        submitConcurrency: options.concurrency,
        elapsedSeconds: round(elapsedSeconds, 3),
        perSecond: round(completed / elapsedSeconds, 1),
        startSeconds: round(startSeconds, 3),
        historyEvents,
        workflowMs: roundDistribution(distribution(closed.durationsMs)),
        cpu: cpuResult(cpuBefore, cpuAfter, completed),
      };
      log(`${phase}: ${result.perSecond} workflows/s, ${historyEvents.mean} events each, ${result.cpu.perItemMs.total} CPU ms each`);
      return result;
    } finally {
      await child.stop();
    }
  }

  // ============================================================ phase 3 (+5): full pipeline at saturation
  async function pipelinePhase(): Promise<PipelineResult> {
    const n = options.emails;
    const taskQueue = `bench-pipeline-${runId}`;
    log(`pipeline: ${n} emails, Mailer.send() with ${options.concurrency} in flight → the real worker (a child process) on "${taskQueue}"…`);
    const child = await spawnChild('pipeline worker', 'pipeline', workerEnv(taskQueue));
    const mailer = await mailerFor(taskQueue);
    let keep = false;
    try {
      const since = await dbNow(db);
      const postgresPid = cpuSnapshot([]).pids.postgres;
      let postgresMaxRss = 0;
      const sampler = setInterval(() => {
        if (postgresPid) postgresMaxRss = Math.max(postgresMaxRss, treeRss(postgresPid));
      }, 1000);
      const cpuBefore = cpuSnapshot([child.pid]);
      const { records, firstCall } = await submitClosedLoop(mailer, 'pipeline', n, options.concurrency);
      const lastReturn = Math.max(...records.map((r) => r.returnedAt));
      const lastSent = await waitForSent(db, since, n, 'pipeline');
      const cpuAfter = cpuSnapshot([child.pid]);
      clearInterval(sampler);
      const elapsedSeconds = (lastSent - firstCall) / 1000;
      const query = `TaskQueue = "${taskQueue}" AND ExecutionStatus = "Completed"`;
      let allClosedSeconds: number | undefined;
      let workflowMs: Distribution | undefined;
      try {
        if ((await waitForClosed(temporal, taskQueue, n, 'pipeline')) < n) throw new Error('not every workflow completed');
        const closed = await closeTimes(temporal, query);
        allClosedSeconds = round((closed.last - firstCall) / 1000, 3);
        workflowMs = roundDistribution(distribution(closed.durationsMs));
      } catch (err) {
        results.notes.push(`pipeline: could not confirm every workflow closed: ${(err as Error).message}`);
      }
      const statuses = await statusCounts(db, since);
      const historyEvents = await historySample(temporal, records.map((r) => `email-${r.id}`));
      const smtp = results.phases.smtp;
      const engine = results.phases.engine;
      const perSecondRate = n / elapsedSeconds;
      const receivedTimes = records.map((r) => receipts.get(r.id)).filter((t): t is number => t !== undefined);
      const temporalPid = cpuAfter.pids.temporal;
      const result: PipelineResult = {
        emails: n,
        submitConcurrency: options.concurrency,
        submitSeconds: round((lastReturn - firstCall) / 1000, 3),
        submitPerSecond: round(n / ((lastReturn - firstCall) / 1000), 1),
        elapsedSeconds: round(elapsedSeconds, 3),
        perSecond: round(perSecondRate, 1),
        allClosedSeconds,
        workflowMs,
        ratioToSmtp: smtp ? round(perSecondRate / smtp.perSecond, 3) : undefined,
        ratioToEngine: engine ? round(perSecondRate / engine.perSecond, 3) : undefined,
        sendMs: roundDistribution(distribution(records.map((r) => r.returnedAt - r.calledAt))),
        statuses,
        historyEvents,
        cpu: cpuResult(cpuBefore, cpuAfter, n),
        memory: {
          workerPeakRssBytes: memoryOf(child.pid)?.peak,
          temporalPeakRssBytes: temporalPid ? memoryOf(temporalPid)?.peak : undefined,
          postgresMaxTreeRssBytes: postgresMaxRss || undefined,
          benchPeakRssBytes: memoryOf(process.pid)?.peak ?? process.memoryUsage().rss,
        },
        receivedPerSecond: perSecond(receivedTimes, firstCall, Math.ceil(elapsedSeconds) + 1),
      };
      if (engine && engine.historyEvents.mean !== historyEvents.mean) {
        results.notes.push(`The engine floor's workflows have ${engine.historyEvents.mean} history events on average, the pipeline's ${historyEvents.mean}: some emails took a longer path than the common one (a retry, a lost task), so the two are not quite comparable.`);
        log(`warning: ${results.notes.at(-1)}`);
      }
      log(`pipeline: ${result.perSecond} emails/s (send() alone ${result.submitPerSecond}/s), ${historyEvents.mean} events and ${result.cpu.perItemMs.total} CPU ms per email`);
      if (runs('latency')) {
        workerForLatency = { child, mailer, taskQueue };
        keep = true;
      }
      return result;
    } finally {
      if (!keep) await child.stop();
    }
  }

  // ============================================================ phase 4: latency under open-loop load
  async function latencyPhase(): Promise<LatencyResult> {
    const saturationRate = results.phases.pipeline?.perSecond ?? options.saturationRate!;
    let worker = workerForLatency;
    if (!worker) {
      const taskQueue = `bench-latency-${runId}`;
      const child = await spawnChild('latency worker', 'pipeline', workerEnv(taskQueue));
      worker = { child, mailer: await mailerFor(taskQueue), taskQueue };
      workerForLatency = worker;
      // A fresh worker (no pipeline phase before this one) is cold: JIT, workflow
      // cache, Postgres connections opened on first use. Warm it up at the first
      // level's rate and discard those figures, as the pipeline phase does otherwise.
      const rate = (saturationRate * options.latencyLoads[0]!) / 100;
      const warmup = await submitOpenLoop(worker.mailer, 'latency-warmup', Math.max(10, Math.round(rate * 3)), rate);
      await waitUntil('the warm-up emails at the sink', () => warmup.every((r) => receipts.has(r.id)), 120_000);
    }
    const levels: LatencyLevel[] = [];
    for (const load of options.latencyLoads) {
      const rate = (saturationRate * load) / 100;
      const count = Math.max(5, Math.round(rate * options.latencySeconds));
      log(`latency: ${load} % of saturation = ${rate.toFixed(1)} emails/s, open loop, ${count} emails over ${options.latencySeconds} s…`);
      const records = await submitOpenLoop(worker.mailer, `latency${load}`, count, rate);
      const ids = records.map((r) => r.id);
      await waitUntil(`${count} latency emails at the sink`, () => ids.every((id) => receipts.has(id)), 120_000 + count * 100);
      const first = Math.min(...records.map((r) => r.scheduledAt));
      const last = Math.max(...records.map((r) => r.scheduledAt));
      const level: LatencyLevel = {
        loadPercent: load,
        targetRate: round(rate, 2),
        achievedRate: round(count > 1 ? (count - 1) / ((last - first) / 1000) : rate, 2),
        seconds: options.latencySeconds,
        emails: count,
        delivered: ids.filter((id) => receipts.has(id)).length,
        latencyMs: roundDistribution(distribution(records.map((r) => receipts.get(r.id)! - r.returnedAt))),
        sendMs: roundDistribution(distribution(records.map((r) => r.returnedAt - r.scheduledAt))),
        lateArrivals: records.filter((r) => r.calledAt - r.scheduledAt > 50).length,
      };
      levels.push(level);
      log(`latency: ${load} %: p50 ${level.latencyMs.p50} ms, p95 ${level.latencyMs.p95} ms, p99 ${level.latencyMs.p99} ms`);
    }
    return { saturationRate, saturationRateSource: results.phases.pipeline ? 'pipeline' : 'option', levels };
  }

  // ============================================================ phase 6: global rate limit
  async function rateLimitPhase(): Promise<RateLimitResult> {
    const limit = options.rateLimit;
    const runsOut: RateLimitRun[] = [];
    for (const workers of options.rateWorkers) {
      const taskQueue = `bench-ratelimit${workers}-${runId}`;
      log(`ratelimit: EMAIL_RATE_LIMIT=${limit}/s, ${workers} worker process(es) on "${taskQueue}", ${options.rateSeconds} s…`);
      const env = workerEnv(taskQueue, { EMAIL_RATE_LIMIT: `${limit}/s` });
      const procs = await Promise.all(Array.from({ length: workers }, (_, i) => spawnChild(`rate-limit worker ${i + 1}/${workers}`, 'pipeline', env)));
      const mailer = await mailerFor(taskQueue);
      const submitted: string[] = [];
      let inFlight = 0;
      let feeding = true;
      // Keeps a backlog in front of the limit all along, whatever the delivered rate.
      const target = Math.max(20, Math.ceil(limit * 4));
      const feeder = (async () => {
        while (feeding) {
          const outstanding = submitted.filter((id) => !receipts.has(id)).length + inFlight;
          for (let k = outstanding; k < target && feeding; k++) {
            inFlight++;
            mailer.send(emailInput(`ratelimit${workers}`, submitted.length + inFlight)).then(
              (r) => submitted.push(r.id),
              (err: unknown) => results.notes.push(`ratelimit: send failed: ${String(err)}`),
            ).finally(() => inFlight--);
          }
          await sleep(100);
        }
      })();
      try {
        const firstAt = await waitUntil('the first rate-limited delivery', () => {
          const times = submitted.map((id) => receipts.get(id)).filter((t): t is number => t !== undefined);
          return times.length ? Math.min(...times) : undefined;
        }, 60_000);
        // Two seconds more than the window, so that a second window of the same
        // length can start after the limiter's initial burst.
        const end = firstAt + (options.rateSeconds + STEADY_AFTER_S) * 1000;
        while (Date.now() < end + 200) await sleep(100);
      } finally {
        feeding = false;
        await feeder;
        await Promise.allSettled(procs.map((p) => p.stop()));
      }
      const times = submitted.map((id) => receipts.get(id)).filter((t): t is number => t !== undefined).sort((a, b) => a - b);
      const firstAt = times[0]!;
      const inWindow = times.filter((t) => t < firstAt + options.rateSeconds * 1000);
      const rate = inWindow.length / options.rateSeconds;
      // Temporal's limiter is a token bucket whose burst is the rate itself
      // (matching: burst = ceil(rps), not configurable lower): starting from an
      // idle queue it lets one bucketful through at once. The same-length
      // window from 2 s on shows the rate it keeps.
      const steadyFrom = firstAt + STEADY_AFTER_S * 1000;
      const steady = times.filter((t) => t >= steadyFrom && t < steadyFrom + options.rateSeconds * 1000);
      const steadyRate = steady.length / options.rateSeconds;
      // When Temporal handed out each delivery (ActivityTaskStarted of deliver): the limiter
      // itself, without the worker's and the sink's jitter that the receipt times carry.
      const delivered = submitted.filter((id) => (receipts.get(id) ?? Infinity) < firstAt + options.rateSeconds * 1000);
      const dispatches = (await mapLimit(delivered, 8, (id) => deliverDispatches(temporal, `email-${id}`))).flat();
      const started = dispatches.map((d) => d.started);
      const firstStart = Math.min(...started);
      const queueWait = distribution(dispatches.map((d) => d.started - d.scheduled));
      const run: RateLimitRun = {
        workers,
        limitPerSecond: limit,
        seconds: options.rateSeconds,
        submitted: submitted.length,
        delivered: inWindow.length,
        ratePerSecond: round(rate, 3),
        errorPercent: round(((rate - limit) / limit) * 100, 1),
        firstSecond: times.filter((t) => t < firstAt + 1000).length,
        steadyRatePerSecond: round(steadyRate, 3),
        steadyErrorPercent: round(((steadyRate - limit) / limit) * 100, 1),
        maxIn1s: maxInWindow(inWindow).count,
        maxIn1sDispatched: maxInWindow(started).count,
        maxIn1sDispatchedAfter2s: maxInWindow(started.filter((t) => t >= firstStart + 2000)).count,
        deliverQueueWaitMs: roundDistribution(queueWait),
        // Deliveries queued in front of the limiter (waiting more than two slots of it), or it let too many through.
        limitBinding: queueWait.p50 >= 2000 / limit || rate > limit * 1.05,
        perSecond: perSecond(inWindow, firstAt, options.rateSeconds),
      };
      if (!run.limitBinding) {
        results.notes.push(`ratelimit: with ${workers} worker(s) the pipeline delivered ${run.ratePerSecond}/s, below the ${limit}/s limit: deliveries did not queue in front of the limit (deliver queue wait p50 ${run.deliverQueueWaitMs.p50} ms), so the engine, not the limit, set the rate.`);
      }
      runsOut.push(run);
      log(`ratelimit: ${workers} worker(s): ${run.ratePerSecond}/s (${run.errorPercent >= 0 ? '+' : ''}${run.errorPercent} %), from 2 s on ${run.steadyRatePerSecond}/s (${run.steadyErrorPercent >= 0 ? '+' : ''}${run.steadyErrorPercent} %), max in any 1 s: ${run.maxIn1s} received, ${run.maxIn1sDispatched} dispatched (${run.maxIn1sDispatchedAfter2s} after the first 2 s); deliver queue wait p50 ${run.deliverQueueWaitMs.p50} ms`);
    }
    return { limitPerSecond: limit, runs: runsOut };
  }

  // ============================================================ phase 7: backlog drain
  async function backlogPhase(): Promise<BacklogResult> {
    const n = options.backlog;
    const limit = options.drainRate;
    const taskQueue = `bench-backlog-${runId}`;
    const settings = {
      EMAIL_RATE_LIMIT: `${limit}/s`,
      DELIVER_RETRY_MAX_INTERVAL: options.drainRetryMaxInterval,
      // No email may give up during the outage; the drain must account for all of them.
      DELIVER_MAX_ATTEMPTS: '0',
    };
    log(`backlog: sink down, ${n} emails submitted, then the sink comes back; ${Object.entries(settings).map(([k, v]) => `${k}=${v}`).join(' ')}…`);
    const child = await spawnChild('backlog worker', 'pipeline', workerEnv(taskQueue, settings));
    const mailer = await mailerFor(taskQueue);
    try {
      const since = await dbNow(db);
      await sink.close();
      const downAt = Date.now();
      const { records, firstCall } = await submitClosedLoop(mailer, 'backlog', n, options.concurrency);
      const submitSeconds = (Math.max(...records.map((r) => r.returnedAt)) - firstCall) / 1000;
      // Let the outage bite: every delivery attempted once (and failed), or outageWaitSeconds at most.
      await waitUntil('backlog deliveries to fail once', async () => (await tried(db, since)) >= n, options.outageWaitSeconds * 1000).catch(() => undefined);
      const triedBefore = await tried(db, since);
      await sink.listen();
      const upAt = Date.now();
      log(`backlog: sink back after ${((upAt - downAt) / 1000).toFixed(1)} s; ${triedBefore} of ${n} emails had a failed attempt; draining…`);
      const lastSent = await waitForSent(db, since, n, 'backlog');
      const { rows } = await db.query<{ attempts: string }>('SELECT sum(attempts) AS attempts FROM emails WHERE created_on >= $1', [since]);
      const drainSeconds = (lastSent - upAt) / 1000;
      const times = records.map((r) => receipts.get(r.id)).filter((t): t is number => t !== undefined);
      const maxIn1s = maxInWindow(times.filter((t) => t >= upAt)).count;
      const dispatched = (await mapLimit(records, 8, (r) => deliverDispatches(temporal, `email-${r.id}`))).flat().map((d) => d.started).filter((t) => t >= upAt);
      const maxIn1sDispatched = maxInWindow(dispatched).count;
      const result: BacklogResult = {
        emails: n,
        limitPerSecond: limit,
        settings,
        submitSeconds: round(submitSeconds, 3),
        outageSeconds: round((upAt - downAt) / 1000, 3),
        emailsTriedBeforeReopen: triedBefore,
        failedAttempts: Number(rows[0]?.attempts ?? 0) - n,
        drainSeconds: round(drainSeconds, 3),
        idealDrainSeconds: round(n / limit, 3),
        drainPerSecond: round(n / drainSeconds, 1),
        maxIn1s,
        maxIn1sDispatched,
        // The target's own test: no second above twice the limit (a token bucket
        // that starts full allows one bucketful on top of the rate).
        limitHeld: maxIn1sDispatched <= 2 * limit,
        limitBinding: maxIn1sDispatched >= 0.9 * limit,
        sent: times.length,
        perSecond: perSecond(times, upAt, Math.ceil(drainSeconds) + 1),
      };
      log(`backlog: drained ${n} in ${result.drainSeconds} s (ideal ${result.idealDrainSeconds} s), max in any 1 s: ${maxIn1s} accepted, ${maxIn1sDispatched} dispatched (limit ${limit})`);
      return result;
    } finally {
      await sink.listen();
      await child.stop();
    }
  }
}

// ---------------------------------------------------------------- measurement helpers

/** Watches the sink: email id (from the Message-ID `<id@domain>`) → when the sink accepted it (ms). */
function trackReceipts(sink: SmtpSink): Map<string, number> {
  const receipts = new Map<string, number>();
  const ID = /^Message-ID:[ \t]*<([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})@/im;
  const record = (m: ReceivedMessage) => {
    const head = m.raw.toString('latin1', 0, Math.min(m.raw.length, 16_384));
    const end = head.indexOf('\r\n\r\n');
    const match = ID.exec(end >= 0 ? head.slice(0, end) : head);
    if (match && !receipts.has(match[1]!)) receipts.set(match[1]!, Date.parse(m.receivedAt));
  };
  for (const m of sink.messages) record(m);
  // The sink appends every accepted message to `messages`; see each one as it lands.
  const push = sink.messages.push.bind(sink.messages);
  sink.messages.push = (...items: ReceivedMessage[]) => {
    for (const m of items) record(m);
    return push(...items);
  };
  return receipts;
}

async function waitUntil<T>(what: string, check: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs: number, intervalMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (interrupted) throw new Error('interrupted');
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
    await sleep(intervalMs);
  }
}

async function dbNow(db: pg.Client): Promise<Date> {
  const { rows } = await db.query<{ now: Date }>('SELECT clock_timestamp() AS now');
  return rows[0]!.now;
}

async function tried(db: pg.Client, since: Date): Promise<number> {
  const { rows } = await db.query<{ n: string }>('SELECT count(*) AS n FROM emails WHERE created_on >= $1 AND attempts >= 1', [since]);
  return Number(rows[0]?.n ?? 0);
}

async function statusCounts(db: pg.Client, since: Date): Promise<Record<string, number>> {
  const { rows } = await db.query<{ status: string; n: string }>('SELECT status, count(*) AS n FROM emails WHERE created_on >= $1 GROUP BY status', [since]);
  return Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
}

/**
 * Polls Postgres until `n` emails created since `since` are `sent`; returns the
 * last sent_at (ms). Fails if nothing progresses for a minute or any email
 * ends otherwise.
 */
async function waitForSent(db: pg.Client, since: Date, n: number, phase: string): Promise<number> {
  let lastCount = -1;
  let lastProgress = Date.now();
  for (;;) {
    if (interrupted) throw new Error('interrupted');
    const { rows } = await db.query<{ sent: string; other_final: string; last: Date | null }>(
      `SELECT count(*) FILTER (WHERE status = 'sent') AS sent,
              count(*) FILTER (WHERE status IN ('failed', 'blocked', 'cancelled')) AS other_final,
              max(sent_at) AS last
         FROM emails WHERE created_on >= $1`,
      [since],
    );
    const sent = Number(rows[0]?.sent ?? 0);
    const otherFinal = Number(rows[0]?.other_final ?? 0);
    if (otherFinal) throw new Error(`${phase}: ${otherFinal} email(s) ended without being sent: ${JSON.stringify(await statusCounts(db, since))}`);
    if (sent >= n) return rows[0]!.last!.getTime();
    if (sent !== lastCount) {
      lastCount = sent;
      lastProgress = Date.now();
    } else if (Date.now() - lastProgress > 60_000) {
      throw new Error(`${phase}: no email sent for 60 s (${sent} of ${n}): ${JSON.stringify(await statusCounts(db, since))}`);
    }
    await sleep(100);
  }
}

/** `fn` over `items`, `limit` at a time. */
async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array<R>(items.length);
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, async () => {
    for (let i = next++; i < items.length; i = next++) out[i] = await fn(items[i]!);
  }));
  return out;
}

/** When each `deliver` attempt of a workflow was scheduled and when Temporal started it (ms), from its history. */
async function deliverDispatches(temporal: Client, workflowId: string): Promise<{ scheduled: number; started: number }[]> {
  const events = (await temporal.workflow.getHandle(workflowId).fetchHistory()).events ?? [];
  const at = (e: (typeof events)[number]) => Number(e.eventTime?.seconds ?? 0) * 1000 + (e.eventTime?.nanos ?? 0) / 1e6;
  const scheduled = new Map<string, number>();
  const out: { scheduled: number; started: number }[] = [];
  for (const e of events) {
    if (e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED && e.activityTaskScheduledEventAttributes?.activityType?.name === 'deliver') {
      scheduled.set(String(e.eventId), at(e));
    }
    const from = scheduled.get(String(e.activityTaskStartedEventAttributes?.scheduledEventId));
    if (e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED && from !== undefined) out.push({ scheduled: from, started: at(e) });
  }
  return out;
}

/** `n` send() calls, `concurrency` at a time (a closed loop: saturation). */
async function submitClosedLoop(mailer: Mailer, tag: string, n: number, concurrency: number): Promise<{ records: SendRecord[]; firstCall: number }> {
  const records: SendRecord[] = [];
  let next = 0;
  const firstCall = Date.now();
  await Promise.all(
    Array.from({ length: Math.min(concurrency, n) }, async () => {
      for (let i = next++; i < n; i = next++) {
        const calledAt = Date.now();
        const sent = await mailer.send(emailInput(tag, i));
        if (!sent.workflowStarted) throw new Error(`${tag}: send() stored email ${sent.id} but could not start its workflow`);
        records.push({ id: sent.id, scheduledAt: calledAt, calledAt, returnedAt: Date.now() });
      }
    }),
  );
  return { records, firstCall };
}

/** `n` send() calls at a fixed rate, whatever the earlier ones are doing (an open loop). */
async function submitOpenLoop(mailer: Mailer, tag: string, n: number, rate: number): Promise<SendRecord[]> {
  const interval = 1000 / rate;
  const start = Date.now() + 20;
  const pending: Promise<SendRecord>[] = [];
  for (let i = 0; i < n; i++) {
    if (interrupted) throw new Error('interrupted');
    const scheduledAt = start + i * interval;
    const wait = scheduledAt - Date.now();
    if (wait > 0) await sleep(wait);
    const calledAt = Date.now();
    pending.push(
      mailer.send(emailInput(tag, i)).then((sent) => {
        if (!sent.workflowStarted) throw new Error(`${tag}: send() could not start the workflow of ${sent.id}`);
        return { id: sent.id, scheduledAt, calledAt, returnedAt: Date.now() };
      }),
    );
  }
  return Promise.all(pending);
}

/**
 * Waits until `n` workflows on `taskQueue` have closed (visibility), logging
 * progress; returns how many completed. Workflows that failed or timed out are
 * reported in the notes with one failure; a stall of 90 s is reported, not fatal.
 */
async function waitForClosed(temporal: Client, taskQueue: string, n: number, phase: string): Promise<number> {
  const closedQuery = `TaskQueue = "${taskQueue}" AND ExecutionStatus != "Running"`;
  let last = -1;
  let progressAt = Date.now();
  let loggedAt = Date.now();
  let closed = 0;
  for (;;) {
    if (interrupted) throw new Error('interrupted');
    closed = (await temporal.workflow.count(closedQuery)).count;
    if (closed >= n) break;
    if (closed !== last) {
      last = closed;
      progressAt = Date.now();
    }
    if (Date.now() - loggedAt > 10_000) {
      loggedAt = Date.now();
      log(`${phase}: ${closed} of ${n} workflows closed`);
    }
    if (Date.now() - progressAt > 90_000) {
      results.notes.push(`${phase}: only ${closed} of ${n} workflows closed (none for 90 s)`);
      log(results.notes.at(-1)!);
      break;
    }
    await sleep(250);
  }
  const completed = (await temporal.workflow.count(`TaskQueue = "${taskQueue}" AND ExecutionStatus = "Completed"`)).count;
  if (completed < closed) {
    let example = '';
    for await (const wf of temporal.workflow.list({ query: `TaskQueue = "${taskQueue}" AND ExecutionStatus != "Running" AND ExecutionStatus != "Completed"` })) {
      const error = await temporal.workflow.getHandle(wf.workflowId).result().then(() => undefined, (err: unknown) => err as Error & { cause?: Error & { cause?: Error } });
      example = `${wf.workflowId} ${wf.status.name}: ${[error?.message, error?.cause?.message, error?.cause?.cause?.message].filter(Boolean).join(' ← ')}`;
      break;
    }
    results.notes.push(`${phase}: ${closed - completed} of ${n} workflows did not complete (e.g. ${example}); throughput counts completed ones only`);
    log(results.notes.at(-1)!);
  }
  return completed;
}

/** The latest close time among the workflows matching `query`, and each one's start → close duration. */
async function closeTimes(temporal: Client, query: string): Promise<{ last: number; durationsMs: number[] }> {
  let last = 0;
  const durationsMs: number[] = [];
  for await (const wf of temporal.workflow.list({ query })) {
    const close = wf.closeTime?.getTime() ?? 0;
    last = Math.max(last, close);
    durationsMs.push(close - wf.startTime.getTime());
  }
  return { last, durationsMs };
}

/**
 * History length of a few workflows spread over the run, and where their time
 * went: waiting in a task queue (scheduled → started) or running (started →
 * completed), for workflow tasks and activity tasks, from the event times.
 */
async function historySample(temporal: Client, workflowIds: string[]): Promise<HistorySample> {
  const picks = new Set<number>();
  const count = Math.min(options.historySamples, workflowIds.length);
  for (let k = 0; k < count; k++) picks.add(Math.round((k * (workflowIds.length - 1)) / Math.max(1, count - 1)));
  const samples: number[] = [];
  const timelines: HistorySample['timelineMs'][] = [];
  for (const i of picks) {
    const handle = temporal.workflow.getHandle(workflowIds[i]!);
    await handle.result().catch(() => undefined);
    const events = (await handle.fetchHistory()).events ?? [];
    samples.push(events.length);
    const at = (e: (typeof events)[number]) => Number(e.eventTime?.seconds ?? 0) * 1000 + (e.eventTime?.nanos ?? 0) / 1e6;
    const t: HistorySample['timelineMs'] = { total: 0, workflowTaskQueued: 0, workflowTaskRunning: 0, activityQueued: 0, activityRunning: 0 };
    const last: Record<string, number> = {};
    for (const e of events) {
      const time = at(e);
      switch (e.eventType) {
        case EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED: last.wfts = time; break;
        case EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED: t.workflowTaskQueued += time - (last.wfts ?? time); last.wftst = time; break;
        case EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED: t.workflowTaskRunning += time - (last.wftst ?? time); break;
        case EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED: last.ats = time; break;
        case EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED: t.activityQueued += time - (last.ats ?? time); last.atst = time; break;
        case EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED: t.activityRunning += time - (last.atst ?? time); break;
        default: break;
      }
    }
    if (events.length) t.total = at(events[events.length - 1]!) - at(events[0]!);
    timelines.push(t);
  }
  const mean = (f: (t: HistorySample['timelineMs']) => number) => round(timelines.reduce((sum, t) => sum + f(t), 0) / Math.max(1, timelines.length), 1);
  return {
    samples,
    mean: round(samples.reduce((sum, v) => sum + v, 0) / Math.max(1, samples.length), 1),
    timelineMs: {
      total: mean((t) => t.total),
      workflowTaskQueued: mean((t) => t.workflowTaskQueued),
      workflowTaskRunning: mean((t) => t.workflowTaskRunning),
      activityQueued: mean((t) => t.activityQueued),
      activityRunning: mean((t) => t.activityRunning),
    },
  };
}

function cpuResult(before: CpuSnapshot, after: CpuSnapshot, items: number): CpuResult {
  const delta = cpuDelta(before, after);
  const perItemMs: Record<string, number> = { total: round(delta.totalMs / items, 2) };
  for (const [group, ms] of Object.entries(delta.ms)) perItemMs[group] = round(ms / items, 2);
  const roundedMs = Object.fromEntries(Object.entries(delta.ms).map(([g, ms]) => [g, round(ms, 0)])) as typeof delta.ms;
  return {
    seconds: round(delta.seconds, 3),
    ms: roundedMs,
    totalMs: round(delta.totalMs, 0),
    machineBusyMs: round(delta.machineBusyMs, 0),
    machineCapacityMs: round(delta.machineCapacityMs, 0),
    perItemMs,
  };
}

function roundDistribution(d: Distribution): Distribution {
  return { n: d.n, min: round(d.min), p50: round(d.p50), p95: round(d.p95), p99: round(d.p99), max: round(d.max), mean: round(d.mean) };
}

async function recordEnvironment(stack: Stack, db: pg.Client, baseEnv: Record<string, string>): Promise<void> {
  const sdk = async (name: string) => (JSON.parse(await readFile(path.join(projectRoot, 'node_modules', '@temporalio', name, 'package.json'), 'utf8')) as { version: string }).version;
  const setting = async (name: string) => (await db.query<{ setting: string }>('SELECT current_setting($1) AS setting', [name])).rows[0]?.setting;
  const pgSettings: Record<string, string | undefined> = {};
  for (const name of ['fsync', 'synchronous_commit', 'full_page_writes', 'wal_level', 'shared_buffers', 'max_connections', 'checkpoint_timeout', 'max_wal_size']) {
    pgSettings[name] = await setting(name);
  }
  const pids = cpuSnapshot([]).pids;
  const temporalArgs = cmdline(pids.temporal) ?? [];
  const argValues = (flag: string) => temporalArgs.flatMap((arg, i) => (arg === flag && temporalArgs[i + 1] ? [temporalArgs[i + 1]!] : []));
  const workerConfig = loadConfig(baseEnv);
  results.environment = {
    ...results.environment,
    node: process.version,
    temporalSdk: { worker: await sdk('worker'), client: await sdk('client'), workflow: await sdk('workflow') },
    temporalCli: stack.info.temporalCli,
    temporalVersion: stack.info.temporalVersion,
    temporalDevServer: {
      dynamicConfig: DEV_SERVER_DYNAMIC_CONFIG,
      // As the server was really started (its command line); none means the CLI's defaults.
      dynamicConfigPassed: argValues('--dynamic-config-value'),
      sqlitePragmas: argValues('--sqlite-pragma').length ? argValues('--sqlite-pragma') : 'none passed (temporal CLI defaults)',
      commandLine: temporalArgs,
    },
    postgres: {
      version: (await db.query<{ version: string }>('SELECT version()')).rows[0]?.version,
      settings: pgSettings,
      commandLine: cmdline(pids.postgres),
    },
    ...machineInfo(dataDir!),
    platform: `${process.platform}-${process.arch}`,
  };
  results.settings = {
    workerEnvironment: baseEnv,
    worker: {
      maxConcurrentDeliveries: workerConfig.worker.maxConcurrentDeliveries,
      maxConcurrentActivities: workerConfig.worker.maxConcurrentActivities,
      smtpPoolSize: workerConfig.smtp.poolSize,
      deliver: workerConfig.deliver,
      layout: 'each worker is its own process (bench/worker-child.ts → startWorker from src/worker.ts, pre-built workflow bundle); the bench process runs Mailer.send() and the SMTP sink',
    },
    client: { poolMax: 10, note: 'Mailer.send() over one pg pool as createPool() builds it and one Temporal client connection' },
    email: { from: FROM, textBytes: Buffer.byteLength(TEXT), htmlBytes: Buffer.byteLength(HTML), recipients: 1, attachments: 0 },
    postgresFsync: 'on (ephemeral: false)',
  };
  results.notes.push('All processes share one machine: the worker(s), the bench process (client and SMTP sink), the Temporal dev server and Postgres compete for the same cores.');
  if (pgSettings.fsync !== 'on') results.notes.push(`Postgres fsync is ${pgSettings.fsync}: not production-like`);
}
