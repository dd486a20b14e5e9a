// One chaos run from start to verdict: a private stack (real Temporal dev
// server, Postgres with fsync on, the in-process SMTP sink) and worker
// processes; the emails submitted under the seeded faults; everything
// restored; every email waited for until final; the scoreboard judged,
// printed and written. main() returns the exit code and leaves nothing
// running: 0 clean, 1 not (diagnostics kept), 2 bad arguments, 130 interrupted.
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Mailer } from '../../src/index.ts';
import { loadConfig } from '../../src/config.ts';
import { stackEnv, startStack } from '../../dev/stack/index.ts';
import { isPortFree } from '../../dev/stack/ports.ts';
import { waitFor } from '../../dev/stack/wait.ts';
import { ChaosRun, errorText } from './context.ts';
import { diagnose } from './diagnose.ts';
import { injectFaults, relaunch } from './faults.ts';
import { settle, submitAll } from './load.ts';
import { parseOptions, USAGE, UsageError } from './options.ts';
import { BLOCKED_DOMAIN, EMAIL_KINDS, FAULT_KINDS, REJECT_DOMAIN } from './plan.ts';
import { scoreboard } from './scoreboard.ts';
import { printTable } from './table.ts';
import { Fleet } from './workers.ts';

/** Short retries and timeouts, so that each fault is survived within seconds; the Schedule resends lost emails. */
const WORKER_SETTINGS = {
  TEMPORAL_TASK_QUEUE: 'chaos',
  DELIVER_RETRY_INITIAL_INTERVAL: '500ms',
  DELIVER_RETRY_MAX_INTERVAL: '5s',
  DELIVER_MAX_ATTEMPTS: '0',
  DELIVER_TIMEOUT: '30s',
  DELIVER_HEARTBEAT_TIMEOUT: '5s',
  SMTP_SOCKET_TIMEOUT: '20s',
  WORKER_SHUTDOWN_GRACE: '10s',
  RECONCILE_INTERVAL: '10s',
  RECONCILE_OLDER_THAN: '15s',
};

/** Stops every process this run started and deletes its data; true when every port of the stack is free again. */
async function teardown(run: ChaosRun, fleet: Fleet, keepLogs: boolean): Promise<boolean> {
  run.stopping = true;
  await fleet.killAll();
  await run.mailer?.close().catch(() => {});
  const ports: number[] = [];
  // A stack still starting when a signal came is stopped once it is up, not left running.
  const stack = run.stack ?? (await run.stackStarting?.catch(() => undefined));
  if (stack) {
    const info = stack.info;
    ports.push(
      Number(info.temporalAddress.split(':').pop()),
      Number(new URL(info.databaseUrl).port),
      Number(new URL(info.smtpUrl).port),
    );
    if (info.temporalUiUrl) ports.push(Number(new URL(info.temporalUiUrl).port));
    await stack.stop().catch((err) => run.log(`stack stop: ${errorText(err)}`));
    await stack.postgres?.destroy().catch((err) => run.log(`postgres destroy: ${errorText(err)}`));
  }
  if (run.dataDir) await rm(run.dataDir, { recursive: true, force: true });
  if (run.workerLogDir && !keepLogs) await rm(run.workerLogDir, { recursive: true, force: true });
  const free = await Promise.all(ports.map((p) => isPortFree(p)));
  return free.every(Boolean);
}

/** The stack, the client and the first workers; the SMTP sink refuses the `rejected` kind's domain. */
async function startUp(run: ChaosRun, fleet: Fleet): Promise<void> {
  run.dataDir = await mkdtemp(path.join(os.tmpdir(), 'mailer-chaos-stack-'));
  await chmod(run.dataDir, 0o755);
  const bare = { ...process.env };
  for (const name of ['TEMPORAL_ADDRESS', 'DATABASE_URL', 'SMTP_URL']) delete bare[name];
  run.stackStarting = startStack({
    dataDir: run.dataDir,
    ephemeral: false,
    env: bare,
    log: (line) => run.log(`[stack] ${line}`),
  });
  const stack = (run.stack = await run.stackStarting);
  if (!stack.temporal || !stack.postgres || !stack.smtp)
    throw new Error('the chaos run needs its own Temporal, Postgres and SMTP sink');
  if (run.interrupted) return;
  stack.smtp.rejectRecipient = (address) =>
    address.toLowerCase().endsWith(REJECT_DOMAIN) ? { code: 550, message: '5.1.1 no such mailbox here' } : undefined;
  run.log(
    `stack up: Temporal ${stack.info.temporalAddress} (UI ${stack.info.temporalUiUrl}), Postgres :${new URL(stack.info.databaseUrl).port}, SMTP sink ${stack.info.smtpUrl}, data ${run.dataDir}`,
  );

  run.workerEnv = { ...stackEnv(stack.info), SMTP_URL: stack.info.smtpUrl, ...WORKER_SETTINGS };
  run.log(
    `worker config: ${Object.entries(run.workerEnv)
      .filter(([k]) => /^(DELIVER|SMTP_SOCKET|WORKER|RECONCILE|TEMPORAL_TASK)/.test(k))
      .map(([k, v]) => `${k}=${v}`)
      .join(' ')}`,
  );
  run.workerLogDir = await mkdtemp(path.join(os.tmpdir(), 'mailer-chaos-workers-'));
  run.mailer = await Mailer.connect({ config: loadConfig(run.workerEnv) });
  await run.mailer.pool.query(
    "INSERT INTO mailer.recipient_rules (kind, pattern) VALUES ('deny', $1) ON CONFLICT DO NOTHING",
    [BLOCKED_DOMAIN],
  );
  await Promise.all(Array.from({ length: run.options.workers }, () => fleet.add(Date.now() + 120_000)));
  run.log(
    `${run.options.workers} worker(s) polling; mix: ${EMAIL_KINDS.map((k) => `${k} ${run.emails.filter((e) => e.kind === k).length}`).join(', ')}`,
  );
}

async function execute(run: ChaosRun, fleet: Fleet, cleanup: (keepLogs: boolean) => Promise<boolean>): Promise<number> {
  const { options } = run;
  run.log(
    `chaos run: ${options.emails} emails over ${options.durationMs / 1000} s, ${options.workers} worker(s), seed ${options.seed}, settle deadline ${options.settleMs / 1000} s${options.smoke ? ' (smoke)' : ''}`,
  );
  run.log(
    `fault schedule: ${run.faultPlan.length} faults (${FAULT_KINDS.map((k) => `${k} ${run.faultPlan.filter((f) => f.kind === k).length}`).join(', ')})`,
  );
  await startUp(run, fleet);
  if (run.interrupted) return 130;
  const { smtp } = run.live;

  const start = Date.now();
  const progress = setInterval(() => {
    const done = run.emails.filter((e) => e.id).length;
    run.log(
      `   submitted ${done}/${options.emails}, send() retries ${run.stats.sendErrors}, starts left to reconcile ${run.stats.workflowStartDeferred}, sink ${smtp.messages.length} messages, workers ${fleet.size}`,
    );
  }, 5000);
  let submissionMs: number;
  let restoreMs: number;
  try {
    const faults = injectFaults(run, fleet, start);
    await submitAll(run, start);
    submissionMs = (run.lastSubmitAt || Date.now()) - start;
    run.log(
      `submission done in ${(submissionMs / 1000).toFixed(1)} s (${run.emails.filter((e) => e.id).length} accepted)`,
    );
    await faults;
    // Restore: each fault restores what it broke (a fault may add further
    // background work: a replacement worker); then no scripted slowness left,
    // every server up, the full fleet.
    const restoreStart = Date.now();
    while (run.background.length) await Promise.allSettled(run.background.splice(0));
    clearInterval(progress);
    await relaunch(run, 'smtp', () => smtp.listen());
    smtp.replyQueue.length = 0;
    while (fleet.size < options.workers) await fleet.add();
    restoreMs = Date.now() - restoreStart;
  } finally {
    clearInterval(progress);
  }
  run.log(
    `restored: Temporal, Postgres and the SMTP sink up, ${fleet.size} worker(s) running; faults injected: ${FAULT_KINDS.map((k) => `${k} ${run.faultCounts[k]}`).join(', ')}`,
  );

  const settleStart = Date.now();
  const ids = run.emails.filter((e) => e.id).map((e) => e.id!);
  const settled = await settle(run, ids, settleStart + options.settleMs);
  const settleMs = Date.now() - settleStart;
  run.log(
    settled
      ? `every email final after ${(settleMs / 1000).toFixed(1)} s`
      : `settle deadline reached after ${(settleMs / 1000).toFixed(1)} s`,
  );
  if (run.interrupted) return 130;
  // Copies are counted at the sink: a message it has received but not yet
  // answered (a slow reply) must land first, or a duplicate would go unseen.
  await waitFor('no message in flight at the SMTP sink', () => smtp.pending === 0, { timeoutMs: 30_000 }).catch(
    (err: unknown) => {
      run.stats.harnessErrors.push(errorText(err));
      run.log(`!! ${errorText(err)}`);
    },
  );

  const { result, bad } = await scoreboard(run, { submissionStart: start, submissionMs, restoreMs, settleMs });
  if (!result.pass) {
    result.diagnostics = await diagnose(run, bad);
    run.log(`diagnostics (records, workflow histories, every log) kept in ${result.diagnostics}`);
  }
  const keepLogs = !result.pass || options.keepLogs;
  result.portsReleased = await cleanup(keepLogs);
  if (run.workerLogDir && keepLogs) console.log(`worker logs kept in ${run.workerLogDir}`);
  result.elapsedS.total = run.seconds();
  printTable(result);
  console.log(`ports of the run's stack released: ${result.portsReleased ? 'yes' : 'NO'}`);
  if (options.out) {
    await mkdir(path.dirname(options.out), { recursive: true });
    await writeFile(options.out, `${JSON.stringify(result, null, 2)}\n`);
    console.log(`scoreboard written to ${options.out}`);
  }
  return result.pass ? 0 : 1;
}

/** Runs the chaos run that `argv` describes (the arguments after the script) and returns its exit code. */
export async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseOptions(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    console.error(`error: ${err.message}\n${USAGE}`);
    return 2;
  }
  if (parsed.help) {
    console.log(USAGE);
    return 0;
  }
  const run = new ChaosRun(parsed.options);
  const fleet = new Fleet(run);
  let cleaning: Promise<boolean> | undefined;
  const cleanup = (keepLogs: boolean) => (cleaning ??= teardown(run, fleet, keepLogs));

  // A signal, or a crash of this process, ends the run early with this code.
  let stop: (code: number) => void = () => {};
  const stopped = new Promise<number>((resolve) => (stop = resolve));
  const onRejection = (err: unknown) => {
    run.stats.harnessErrors.push(`unhandled rejection: ${errorText(err)}`);
    run.log(`harness error (unhandled rejection): ${errorText(err)}`);
  };
  // This process plays the backend that calls send(): if anything it runs
  // crashes it, the run stops and says so (nothing is swallowed), and the
  // stack is still torn down.
  const onException = (err: unknown) => {
    const text = err instanceof Error ? (err.stack ?? err.message) : String(err);
    const code = err instanceof Error && 'code' in err ? ` (code ${String((err as { code: unknown }).code)})` : '';
    if (run.fatal || run.stopping) {
      // Already tearing down (e.g. a Temporal call retrying on a closed connection): say so, keep tearing down.
      console.error(`${run.stamp()} (during teardown) uncaught exception${code}: ${text.split('\n')[0]}`);
      return;
    }
    run.fatal = true;
    run.interrupted = true;
    console.error(
      `${run.stamp()} FATAL: uncaught exception in the submitting process (the backend role); the run stops here.${code}`,
    );
    console.error(text);
    stop(1);
  };
  const onSignal = (signal: NodeJS.Signals) => {
    run.interrupted = true;
    run.log(`${signal}: stopping every process of the run and deleting its data…`);
    stop(130);
  };
  process.on('unhandledRejection', onRejection);
  process.on('uncaughtException', onException);
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const code = await Promise.race([execute(run, fleet, cleanup), stopped]);
    if (run.fatal) {
      await cleanup(true).catch(() => {});
      if (run.workerLogDir) console.error(`worker logs kept in ${run.workerLogDir}`);
      return 1;
    }
    if (run.interrupted) {
      await cleanup(false).catch(() => {});
      return 130;
    }
    return code;
  } catch (err) {
    console.error(`chaos run failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    await cleanup(true).catch(() => {});
    if (run.workerLogDir) console.error(`worker logs kept in ${run.workerLogDir}`);
    return 1;
  } finally {
    process.off('unhandledRejection', onRejection);
    process.off('uncaughtException', onException);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
