// The worker process: builds the database pool, the SMTP transport and the
// Temporal connection once, hands them to the activities, and closes them
// after the worker has drained. `npm run worker` runs it against the environment.
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { NativeConnection, Worker } from '@temporalio/worker';
import { createActivities } from './activities/index.ts';
import { type Config, describeConfig, loadConfig } from './config.ts';
import { migrate } from './db/migrate.ts';
import { createPool } from './db/pool.ts';
import { createSmtpTransport } from './smtp.ts';

export const workflowsPath = path.resolve(import.meta.dirname, 'workflows/index.ts');

export interface WorkerOptions {
  config: Config;
  /** A pre-built bundle (tests bundle once per run); otherwise bundled at start from `workflowsPath`. */
  workflowBundle?: { codePath: string };
}

export interface RunningWorker {
  worker: Worker;
  /** Resolves when the worker has stopped and every resource is closed. */
  done: Promise<void>;
  shutdown(): Promise<void>;
}

export async function startWorker({ config, workflowBundle }: WorkerOptions): Promise<RunningWorker> {
  const pool = createPool(config.databaseUrl);
  const transport = createSmtpTransport(config.smtpUrl);
  let connection: NativeConnection | undefined;
  try {
    await migrate(pool);
    connection = await NativeConnection.connect({ address: config.temporal.address });
    const worker = await Worker.create({
      connection,
      namespace: config.temporal.namespace,
      taskQueue: config.temporal.taskQueue,
      ...(workflowBundle ? { workflowBundle } : { workflowsPath }),
      activities: createActivities({ pool, transport }),
    });
    const conn = connection;
    const done = worker.run().finally(async () => {
      transport.close();
      await Promise.allSettled([pool.end(), conn.close()]);
    });
    return {
      worker,
      done,
      async shutdown() {
        if (worker.getState() === 'RUNNING') worker.shutdown();
        await done;
      },
    };
  } catch (err) {
    transport.close();
    await Promise.allSettled([pool.end(), connection?.close()]);
    throw err;
  }
}

async function main(): Promise<void> {
  const config = loadConfig();
  console.error(`[worker] starting with ${JSON.stringify(describeConfig(config))}`);
  const running = await startWorker({ config });
  console.error(`[worker] polling task queue "${config.temporal.taskQueue}"; Ctrl-C to stop`);
  // The SDK shuts the worker down on SIGINT/SIGTERM; run() then resolves.
  await running.done;
  console.error('[worker] stopped');
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: unknown) => {
    console.error(`[worker] ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  });
}
