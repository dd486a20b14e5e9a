// `npm start`: the whole service on one machine — a real Temporal dev server,
// Postgres and an SMTP sink on 127.0.0.1, plus the worker — until Ctrl-C.
import { rm } from 'node:fs/promises';
import { loadConfig } from '../src/config.ts';
import { installRuntime, type ObservabilityConfig } from '../src/observability.ts';
import { banner, writeStackFile } from './stack/announce.ts';
import { pickPort } from './stack/ports.ts';
import { startStack, stackEnv } from './stack/index.ts';
import { startWorker, type RunningWorker } from '../src/worker.ts';

// The banner below is what a person needs; the SDK's info logs (the whole
// webpack report among them) would bury it. MAILER_LOG_LEVEL=INFO brings them back.
const metricsAddress = process.env.MAILER_METRICS_ADDRESS ?? `127.0.0.1:${await pickPort(9464)}`;
installRuntime({
  logLevel: (process.env.MAILER_LOG_LEVEL?.toUpperCase() as ObservabilityConfig['logLevel'] | undefined) ?? 'WARN',
  logFormat: process.env.MAILER_LOG_FORMAT === 'json' ? 'json' : 'pretty',
  metricsAddress,
});

const started = Date.now();
let stopStack: (() => Promise<void>) | undefined;
let worker: RunningWorker | undefined;
let stackFile: string | undefined;

// Called by the signal handler and by the main flow once the worker stops
// (the SDK stops it on the same signal): both wait for the one stop sequence.
let stopped: Promise<void> | undefined;
async function shutdown(code: number): Promise<never> {
  stopped ??= (async () => {
    console.error('\n[start] stopping…');
    await worker?.shutdown().catch(() => {});
    // `mailer` reads this file to find the stack; it must not outlive it.
    if (stackFile) await rm(stackFile, { force: true });
    await stopStack?.().catch((err: unknown) => console.error(`[start] stop failed: ${String(err)}`));
  })();
  await stopped;
  process.exit(code);
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => void shutdown(0));

try {
  const stack = await startStack({ defaultPorts: true, mailboxWeb: true });
  stopStack = stack.stop;
  if (stopped) await shutdown(0);
  const { info } = stack;
  stackFile = await writeStackFile(info);
  const config = loadConfig({ ...process.env, ...stackEnv(info) });
  worker = await startWorker({ config });
  console.log(
    banner(info, {
      seconds: (Date.now() - started) / 1000,
      taskQueue: config.temporal.taskQueue,
      metricsUrl: `http://${metricsAddress}/metrics`,
    }),
  );
  await worker.done;
  await shutdown(0);
} catch (err) {
  console.error(`[start] ${err instanceof Error ? err.message : String(err)}`);
  await shutdown(1);
}
