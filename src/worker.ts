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
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Connection } from '@temporalio/client';
import { type NativeConnection, Worker } from '@temporalio/worker';
import { createActivities } from './activities/index.ts';
import { type Config, deliverTaskQueue, describeConfig, loadConfig } from './config.ts';
import { migrate } from './db/migrate.ts';
import { createPool } from './db/pool.ts';
import { installRuntime } from './observability.ts';
import { ensureReconcileSchedule } from './schedule.ts';
import { createSmtpTransport } from './smtp.ts';
import { connectClient, connectNative, dataConverter } from './temporal-connection.ts';

export const workflowsPath = path.resolve(import.meta.dirname, 'workflows/index.ts');

export interface WorkerOptions {
  config: Config;
  /** A pre-built bundle (tests bundle once per run); otherwise bundled at start from `workflowsPath`. */
  workflowBundle?: { codePath: string };
}

export interface RunningWorker {
  workers: Worker[];
  /** Resolves when both workers have stopped and every resource is closed. */
  done: Promise<void>;
  /** Stops polling, lets in-flight activities finish within the grace period, then closes everything. */
  shutdown(): Promise<void>;
}

export async function startWorker({ config, workflowBundle }: WorkerOptions): Promise<RunningWorker> {
  if (!config.smtpUrl) throw new Error('SMTP_URL: is not set (the worker delivers mail; e.g. smtp://user:pass@smtp.example.com:587)');
  const pool = createPool(config.databaseUrl, config.worker.maxConcurrentDeliveries + 8);
  const transport = createSmtpTransport(config.smtpUrl, config.smtp);
  let connection: NativeConnection | undefined;
  let clientConnection: Connection | undefined;
  let scheduleReady: { stop(): void } | undefined;
  const closeResources = async () => {
    scheduleReady?.stop();
    transport.close();
    await Promise.allSettled([pool.end(), connection?.close(), clientConnection?.close()]);
  };
  try {
    await migrate(pool);
    connection = await connectNative(config);
    const connected = await connectClient(config);
    clientConnection = connected.connection;
    const temporal = connected.client;
    // The Schedule is a safety net, not a precondition: a worker that cannot
    // create or describe it right now (Temporal just restarted, its scheduler
    // workflow still recovering) polls anyway and keeps trying in the background.
    scheduleReady = keepTrying(() => ensureReconcileSchedule(temporal, config));
    const activities = createActivities({ pool, transport, config, temporal });
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
      ...(config.worker.rateLimitPerSecond ? { maxTaskQueueActivitiesPerSecond: config.worker.rateLimitPerSecond } : {}),
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
function keepTrying(fn: () => Promise<unknown>): { stop(): void } {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const attempt = (delayMs: number) => {
    fn().catch((err: unknown) => {
      if (stopped) return;
      console.error(`[worker] reconcile Schedule not ready (retrying in ${delayMs / 1000} s): ${err instanceof Error ? err.message : String(err)}`);
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
  console.error(`[worker] polling "${config.temporal.taskQueue}" and "${deliverTaskQueue(config.temporal.taskQueue)}"; Ctrl-C to stop`);
  if (config.observability.metricsAddress) console.error(`[worker] metrics on http://${config.observability.metricsAddress}/metrics`);
  // The SDK shuts the workers down on SIGINT/SIGTERM; in-flight deliveries get
  // WORKER_SHUTDOWN_GRACE to finish, then run() resolves.
  await running.done;
  console.error('[worker] stopped');
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: unknown) => {
    console.error(`[worker] ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  });
}
