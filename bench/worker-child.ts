// One child process of the bench (spawned by bench/run.ts with an IPC channel),
// so that workers are separate processes as in production and their CPU and
// memory can be measured on their own. BENCH_MODE selects what it runs:
//   pipeline  the real worker: startWorker() from src/worker.ts with the
//             environment it is given, and a pre-built workflow bundle;
//   floor     the engine floor: the workflow bundle it is given (the real
//             sendEmail, or bench/workflows.ts) with activities that return
//             at once, as two workers shaped like startWorker's;
//   smtp      the SMTP limit: nodemailer's pooled transport (createSmtpTransport)
//             straight into the sink, BENCH_SMTP_MESSAGES with BENCH_SMTP_IN_FLIGHT
//             in flight, then reports and exits;
//   work      the work floor (bench/work-loop.ts): BENCH_WORK_EMAILS emails through
//             send()'s insert and the three activities in-process, no engine,
//             BENCH_WORK_CONCURRENCY at a time, once the bench says `go`.
// It says `ready` over IPC once polling, stops on SIGTERM/SIGINT (the SDK's
// shutdown), and stops as well if the bench goes away (IPC disconnect).
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { deliverTaskQueue, loadConfig } from '../src/config.ts';
import { createSmtpTransport } from '../src/smtp.ts';
import { startWorker } from '../src/worker.ts';
import { runWorkLoop, type WorkLoopResult } from './work-loop.ts';
import type { FloorActivities } from './workflows.ts';

export type ChildMessage =
  | { type: 'ready' }
  | { type: 'smtp-done'; sent: number; failed: number; firstError: string | undefined; elapsedMs: number }
  | ({ type: 'work-done' } & WorkLoopResult)
  | { type: 'error'; message: string };

/** Resolves once the message has been handed to the IPC channel. */
const send = (message: ChildMessage) =>
  new Promise<void>((resolve) => {
    if (!process.send) return resolve();
    process.send(message, undefined, {}, () => resolve());
  });
const mode = process.env.BENCH_MODE;
const bundlePath = process.env.BENCH_BUNDLE;

let stop: (() => Promise<void>) | undefined;
process.on('disconnect', () => {
  // The bench is gone: do not outlive it.
  setTimeout(() => process.exit(1), 10_000).unref();
  void (stop?.() ?? Promise.resolve()).finally(() => process.exit(1));
});

async function runPipeline(): Promise<void> {
  if (!bundlePath) throw new Error('BENCH_BUNDLE is not set');
  const config = loadConfig(process.env);
  const running = await startWorker({ config, workflowBundle: { codePath: bundlePath } });
  stop = () => running.shutdown();
  await send({ type: 'ready' });
  await running.done;
}

async function runFloor(): Promise<void> {
  if (!bundlePath) throw new Error('BENCH_BUNDLE is not set');
  const config = loadConfig(process.env);
  const connection = await NativeConnection.connect({ address: config.temporal.address });
  const deliverQueue = deliverTaskQueue(config.temporal.taskQueue);
  const activities: FloorActivities = {
    blockCheck: async () => ({ outcome: 'pass' }),
    prepare: async () => ({
      outcome: 'ready',
      size: 1000,
      deliverTaskQueue: deliverQueue,
      policy: config.deliver,
      firstAttempt: config.worker.rateLimitPerSecond ? 'activity' : 'local',
    }),
    deliver: async () => ({ outcome: 'sent', alreadySent: false, afterUncertain: false }),
  };
  const { deliver, ...steps } = activities;
  const common = { connection, namespace: config.temporal.namespace, shutdownGraceTime: config.worker.shutdownGraceMs };
  const workers = [
    await Worker.create({
      ...common,
      taskQueue: config.temporal.taskQueue,
      workflowBundle: { codePath: bundlePath },
      activities: { ...steps, deliver },
      maxConcurrentActivityTaskExecutions: config.worker.maxConcurrentActivities,
    }),
    await Worker.create({
      ...common,
      taskQueue: deliverQueue,
      activities: { deliver },
      maxConcurrentActivityTaskExecutions: config.worker.maxConcurrentDeliveries,
    }),
  ];
  const done = Promise.all(workers.map((w) => w.run()));
  stop = async () => {
    for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
    await done;
  };
  await send({ type: 'ready' });
  try {
    await done;
  } finally {
    await connection.close();
  }
}

async function runSmtp(): Promise<void> {
  const config = loadConfig(process.env);
  const total = Number(process.env.BENCH_SMTP_MESSAGES ?? 1000);
  const inFlight = Number(process.env.BENCH_SMTP_IN_FLIGHT ?? 32);
  const message = JSON.parse(process.env.BENCH_SMTP_MESSAGE ?? '{}') as {
    from: string;
    subject: string;
    text: string;
    html: string;
  };
  const transport = createSmtpTransport(config.smtpUrl!, config.smtp);
  await send({ type: 'ready' });
  let next = 0;
  let sent = 0;
  let failed = 0;
  let firstError: string | undefined;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      for (let i = next++; i < total; i = next++) {
        try {
          await transport.sendMail({ ...message, to: `user${i}@example.com`, subject: `${message.subject} ${i}` });
          sent++;
        } catch (err) {
          failed++;
          firstError ??= err instanceof Error ? err.message : String(err);
        }
      }
    }),
  );
  const elapsedMs = performance.now() - started;
  transport.close();
  await send({ type: 'smtp-done', sent, failed, firstError, elapsedMs });
}

async function runWork(): Promise<void> {
  const config = loadConfig(process.env);
  const n = Number(process.env.BENCH_WORK_EMAILS ?? 100);
  const concurrency = Number(process.env.BENCH_WORK_CONCURRENCY ?? 64);
  // The bench takes its CPU snapshot between `ready` and `go`.
  const go = new Promise<void>((resolve) =>
    process.on('message', (m: { type?: string }) => m.type === 'go' && resolve()),
  );
  await send({ type: 'ready' });
  await go;
  const result = await runWorkLoop(config, n, concurrency, process.env.BENCH_WORK_TAG ?? 'work');
  await send({ type: 'work-done', ...result });
}

async function main(): Promise<void> {
  Runtime.install({ logger: new DefaultLogger('WARN') });
  if (mode === 'pipeline') await runPipeline();
  else if (mode === 'floor') await runFloor();
  else if (mode === 'smtp') await runSmtp();
  else if (mode === 'work') await runWork();
  else throw new Error(`BENCH_MODE: unknown mode "${mode}"`);
}

main().then(
  () => process.exit(0),
  async (err: unknown) => {
    const message = err instanceof Error ? (err.stack ?? err.message) : String(err);
    console.error(`[bench-child ${mode}] ${message}`);
    await send({ type: 'error', message });
    process.exit(1);
  },
);
