// The worker process: builds the database pool, the SMTP transport and the
// Temporal connection once, hands them to the activities, and closes them
// after the workers have drained. `npm run worker` runs it against the environment.
//
// Two Temporal workers share those resources:
//  - `<queue>`: the workflows, the short database steps and, without a rate
//    limit, the first delivery attempt (local activities);
//  - `<queue>-deliver`: only `deliver`, so Temporal's task-queue rate limit
//    (`EMAIL_RATE_LIMIT`, enforced by the server across every worker of the
//    queue) counts deliveries and nothing else. A separate queue also keeps
//    deliver out of eager activity dispatch, which would bypass that limit.
// Beside them, the relay (src/relay.ts) starts the workflows of emails that
// callers enqueued in their own transactions, once those commit.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Connection } from '@temporalio/client';
import { NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { createActivities } from './activities/index.ts';
import { createMetrics } from './activities/metrics.ts';
import { startBacklogGauges } from './backlog.ts';
import { type Config, ConfigError, deliverTaskQueue, describeConfig, loadConfig } from './config.ts';
import { checkMigrated, migrate } from './db/migrate.ts';
import { EXIT } from './errors.ts';
import { createPool } from './db/pool.ts';
import { dbFor } from './db/schema.ts';
import { installRuntime } from './observability.ts';
import { ensureWebhookSender } from './events/sender.ts';
import { type Relay, startRelay } from './relay.ts';
import { ensurePurgeSchedule, ensureReconcileSchedule } from './schedule.ts';
import { createSmtpTransport } from './smtp.ts';
import { connectClient, dataConverter } from './temporal-connection.ts';

export { loadConfig, type Config } from './config.ts';
export { migrate } from './db/migrate.ts';

// Compiled (dist/worker.js) or run from source (src/worker.ts under tsx, in development).
const here = fileURLToPath(import.meta.url);
const ext = path.extname(here);
export const workflowsPath = path.resolve(path.dirname(here), `workflows/index${ext}`);
/**
 * The workflow bundle `npm run build` writes next to the compiled worker: the
 * production worker loads it instead of running webpack at every start.
 */
export const workflowBundlePath = path.resolve(path.dirname(here), 'workflow-bundle.js');

export interface WorkerOptions {
  config: Config;
  /**
   * A pre-built bundle. Default: the one the build ships next to this file when
   * there is one (the compiled package), otherwise bundled at start from `workflowsPath`.
   */
  workflowBundle?: { codePath: string };
}

function defaultBundle(): { codePath: string } | undefined {
  return ext === '.js' && existsSync(workflowBundlePath) ? { codePath: workflowBundlePath } : undefined;
}

export interface RunningWorker {
  workers: Worker[];
  /** The outbox relay of this worker. */
  relay: Relay;
  /** Resolves when both workers have stopped and every resource is closed. */
  done: Promise<void>;
  /** Stops polling, lets in-flight activities finish within the grace period, then closes everything. */
  shutdown(): Promise<void>;
}

export async function startWorker({ config, workflowBundle = defaultBundle() }: WorkerOptions): Promise<RunningWorker> {
  if (!config.smtpUrl)
    throw new ConfigError(
      'SMTP_URL',
      'is not set (the worker delivers mail; e.g. smtp://user:pass@smtp.example.com:587)',
    );
  const pool = createPool(config.databaseUrl, config.worker.maxConcurrentDeliveries + 8);
  const transport = createSmtpTransport(config.smtpUrl, config.smtp);
  let connection: NativeConnection | undefined;
  let clientConnection: Connection | undefined;
  let schedulesReady: { stop(): void }[] = [];
  let senderReady: { stop(): void } | undefined;
  let relay: Relay | undefined;
  let backlog: ReturnType<typeof startBacklogGauges> | undefined;
  const closeResources = async () => {
    for (const s of schedulesReady) s.stop();
    senderReady?.stop();
    await relay?.stop();
    await backlog?.stop();
    transport.close();
    await Promise.allSettled([pool.end(), connection?.close(), clientConnection?.close()]);
  };
  try {
    if (config.database.migrate) await migrate(pool, config.database.schema);
    else await checkMigrated(pool, config.database.schema);
    const { tls, apiKey, metadata } = config.temporal.connection;
    connection = await NativeConnection.connect({
      address: config.temporal.address,
      ...(tls !== undefined ? { tls } : {}),
      ...(typeof apiKey === 'string' ? { apiKey } : {}),
      ...(metadata ? { metadata } : {}),
    });
    const connected = await connectClient(config);
    clientConnection = connected.connection;
    const temporal = connected.client;
    // The Schedules are a safety net, not a precondition: a worker that cannot
    // create or describe one right now (Temporal just restarted, its scheduler
    // workflow still recovering) polls anyway and keeps trying in the background.
    schedulesReady = [
      keepTrying('reconcile Schedule', () => ensureReconcileSchedule(temporal, config)),
      keepTrying('purge Schedule', () => ensurePurgeSchedule(temporal, config)),
    ];
    if (config.webhook) senderReady = keepTrying('webhook sender', () => ensureWebhookSender(temporal, config));
    const db = dbFor(pool, config.database.schema);
    const metrics = createMetrics(
      Runtime.instance().metricMeter.withTags({
        namespace: config.temporal.namespace,
        task_queue: config.temporal.taskQueue,
      }),
    );
    backlog = startBacklogGauges(db, metrics, config.observability.backlogIntervalMs, (err) =>
      console.error(`[worker] backlog gauges not read: ${err instanceof Error ? err.message : String(err)}`),
    );
    // Read once before polling, so the first scrape already has them.
    await backlog.first;
    // Starts the workflows of emails enqueued in callers' transactions, after their commit.
    relay = startRelay({ db, temporal, config });
    const activities = createActivities({ db, transport, config, temporal, metrics });
    const { deliver, ...steps } = activities;
    const converter = dataConverter(config);
    const common = {
      connection,
      namespace: config.temporal.namespace,
      ...(converter ? { dataConverter: converter } : {}),
      shutdownGraceTime: config.worker.shutdownGraceMs,
    };
    const main = await Worker.create({
      ...common,
      taskQueue: config.temporal.taskQueue,
      ...(workflowBundle ? { workflowBundle } : { workflowsPath }),
      // deliver is here too for the first attempt, which runs as a local
      // activity when no rate limit is set (see prepare); the workflow never
      // schedules it as a regular activity on this queue.
      activities: { ...steps, deliver },
      maxConcurrentActivityTaskExecutions: config.worker.maxConcurrentActivities,
      // Local first attempts are deliveries too: the same bound as the deliver queue's.
      maxConcurrentLocalActivityExecutions: config.worker.maxConcurrentDeliveries,
    });
    const delivery = await Worker.create({
      ...common,
      taskQueue: deliverTaskQueue(config.temporal.taskQueue),
      activities: { deliver },
      maxConcurrentActivityTaskExecutions: config.worker.maxConcurrentDeliveries,
      ...(config.worker.rateLimitPerSecond
        ? { maxTaskQueueActivitiesPerSecond: config.worker.rateLimitPerSecond }
        : {}),
    });
    const workers = [main, delivery];
    const done = Promise.all(workers.map((w) => w.run())).then(
      () => closeResources(),
      async (err: unknown) => {
        for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
        await closeResources();
        throw err;
      },
    );
    return {
      workers,
      relay,
      done,
      async shutdown() {
        for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
        await done;
      },
    };
  } catch (err) {
    await closeResources();
    throw err;
  }
}

/** Runs `fn` until it succeeds, backing off to 30 s between tries; `stop()` ends the loop. */
function keepTrying(what: string, fn: () => Promise<unknown>): { stop(): void } {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const attempt = (delayMs: number) => {
    fn().catch((err: unknown) => {
      if (stopped) return;
      console.error(
        `[worker] ${what} not ready (retrying in ${delayMs / 1000} s): ${err instanceof Error ? err.message : String(err)}`,
      );
      timer = setTimeout(() => attempt(Math.min(delayMs * 2, 30_000)), delayMs);
      timer.unref();
    });
  };
  attempt(1000);
  return {
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}

async function main(): Promise<void> {
  const config = loadConfig();
  installRuntime(config.observability);
  console.error(`[worker] starting with ${JSON.stringify(describeConfig(config))}`);
  const running = await startWorker({ config });
  console.error(
    `[worker] polling "${config.temporal.taskQueue}" and "${deliverTaskQueue(config.temporal.taskQueue)}"; Ctrl-C to stop`,
  );
  if (config.observability.metricsAddress)
    console.error(`[worker] metrics on http://${config.observability.metricsAddress}/metrics`);
  // The SDK shuts the workers down on SIGINT/SIGTERM; in-flight deliveries get
  // WORKER_SHUTDOWN_GRACE to finish, then run() resolves.
  await running.done;
  console.error('[worker] stopped');
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: unknown) => {
    console.error(`[worker] ${err instanceof Error ? err.message : String(err)}`);
    // Bad configuration exits 3, like `mailer`: a supervisor can tell it from a failed start.
    process.exit(err instanceof ConfigError ? EXIT.config : EXIT.failed);
  });
}
