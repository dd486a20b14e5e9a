// `npm run chaos`: the fault tests' randomised, larger sibling. On a private
// stack (real Temporal dev server, real Postgres with fsync on, the in-process
// SMTP sink) with workers as real child processes, it submits N emails over a
// duration while a seeded schedule of faults hits every part: workers SIGKILLed
// and SIGTERMed, the Temporal server and Postgres SIGKILLed and relaunched, the
// SMTP sink down or slow. Then it restores everything, waits for every email to
// reach a final status, and checks the promise: nothing lost, nothing sent
// twice outside the uncertain window, nothing recorded `sent` that the sink
// never received, and every email ends the way its kind says it should.
//
//   npm run chaos -- --emails 2000 --duration 120s [--seed 42] [--workers 2] [--settle 10m] [--out file.json]
//   npm run chaos -- --smoke          # 40 emails over 15 s, one fault of each kind (what test/chaos.test.ts runs)
//
// Exit code: 0 when the scoreboard is clean, 1 when it is not (and a
// diagnostics folder with the bad emails' records, workflow histories and every
// log is kept), 2 for bad arguments, 130 when interrupted.
import { execFile, execFileSync } from 'node:child_process';
import { chmod, copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { IdempotencyConflictError, Mailer, ValidationError } from '../src/index.ts';
import { ConfigError, loadConfig, parseDuration } from '../src/config.ts';
import { ManagedChild } from '../dev/stack/child.ts';
import { type Stack, stackEnv, startStack } from '../dev/stack/index.ts';
import { isPortFree } from '../dev/stack/ports.ts';
import { spawnWorker, WorkerStartError } from '../dev/stack/worker-process.ts';

const run = promisify(execFile);

// ---------------------------------------------------------------- options

const USAGE = `usage: npm run chaos -- [options]
  --emails N        emails to submit (default 200; smoke 40)
  --duration D      submit them evenly over D, injecting faults meanwhile (default 60s; smoke 15s)
  --seed S          seed of the email mix and the fault schedule (default: random, printed)
  --workers W       worker processes (default 2)
  --settle D        deadline for every email to become final after the faults (default 10m; smoke 3m)
  --out FILE        also write the scoreboard as JSON
  --keep-logs       keep the worker logs (always kept when the run fails)
  --smoke           small run with exactly one fault of each kind`;

function usage(message: string): never {
  console.error(`error: ${message}\n${USAGE}`);
  process.exit(2);
}

let parsed;
try {
  parsed = parseArgs({
    options: {
      emails: { type: 'string' },
      duration: { type: 'string' },
      seed: { type: 'string' },
      workers: { type: 'string' },
      settle: { type: 'string' },
      out: { type: 'string' },
      'keep-logs': { type: 'boolean', default: false },
      smoke: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  }).values;
} catch (err) {
  usage((err as Error).message);
}
const args = parsed;
if (args.help) {
  console.log(USAGE);
  process.exit(0);
}

function positiveInt(value: string | undefined, name: string, fallback: number, min = 1): number {
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value) || Number(value) < min) usage(`--${name}: "${value}" is not a whole number ≥ ${min}`);
  return Number(value);
}

function durationArg(value: string | undefined, name: string, fallback: string): number {
  const raw = value ?? fallback;
  try {
    return /^\d+$/.test(raw) ? Number(raw) * 1000 : parseDuration(raw, `--${name}`);
  } catch (err) {
    usage(err instanceof ConfigError ? err.message : String(err));
  }
}

const smoke = args.smoke === true;
const EMAILS = positiveInt(args.emails, 'emails', smoke ? 40 : 200);
const DURATION_MS = durationArg(args.duration, 'duration', smoke ? '15s' : '60s');
const SEED = positiveInt(args.seed, 'seed', Math.floor(Math.random() * 2 ** 31), 0) >>> 0;
const WORKERS = positiveInt(args.workers, 'workers', 2);
const SETTLE_MS = durationArg(args.settle, 'settle', smoke ? '3m' : '10m');
const OUT = args.out ? path.resolve(args.out) : undefined;
const KEEP_LOGS = args['keep-logs'] === true;
if (DURATION_MS < 1000) usage('--duration: at least 1s');

// ---------------------------------------------------------------- seeded randomness

/** mulberry32: a tiny, fast PRNG; the same seed gives the same sequence on every machine. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const between = (rand: () => number, lo: number, hi: number) => Math.round(lo + rand() * (hi - lo));

function shuffle<T>(rand: () => number, items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}

// ---------------------------------------------------------------- the plan: emails and faults

const FROM = 'Chaos <chaos@acme.example>';
const BLOCKED_DOMAIN = '@blocked.example';
const REJECT_DOMAIN = '@reject.example';

type EmailKind = 'normal' | 'scheduled' | 'blocked' | 'rejected' | 'cancelled';

interface PlannedEmail {
  i: number;
  kind: EmailKind;
  key: string;
  to: string;
  /** Offset from the start of submission. */
  atMs: number;
  /** `scheduled` only: send_at this long after the (first) send() call. */
  sendAfterMs?: number;
  id?: string;
  workflowStarted?: boolean;
  submitError?: string;
  cancelResult?: string;
}

/** The mix, as exact counts (at least one of each special kind), shuffled by the seed. */
function planEmails(rand: () => number): PlannedEmail[] {
  const count = (share: number) => (EMAILS >= 10 ? Math.max(1, Math.round(EMAILS * share)) : 0);
  const special: EmailKind[] = [
    ...Array<EmailKind>(count(0.03)).fill('blocked'),
    ...Array<EmailKind>(count(0.02)).fill('rejected'),
    ...Array<EmailKind>(count(0.02)).fill('cancelled'),
    ...Array<EmailKind>(count(0.05)).fill('scheduled'),
  ];
  const kinds = shuffle(rand, [...special, ...Array<EmailKind>(Math.max(0, EMAILS - special.length)).fill('normal')]).slice(0, EMAILS);
  return kinds.map((kind, i) => {
    const domain = kind === 'blocked' ? BLOCKED_DOMAIN : kind === 'rejected' ? REJECT_DOMAIN : '@example.com';
    const email: PlannedEmail = { i, kind, key: `chaos-${SEED}-${i}`, to: `user${i}${domain}`, atMs: Math.round((i * DURATION_MS) / EMAILS) };
    if (kind === 'scheduled') email.sendAfterMs = between(rand, 2000, 10_000);
    return email;
  });
}

const FAULT_KINDS = ['worker-sigkill', 'worker-sigterm', 'temporal-kill', 'postgres-kill', 'smtp-down', 'smtp-slow'] as const;
type FaultKind = (typeof FAULT_KINDS)[number];

interface PlannedFault {
  kind: FaultKind;
  /** Offset from the start of submission. */
  atMs: number;
  /** Workers: delay before the replacement starts; servers: how long they stay down. */
  pauseMs: number;
  /** smtp-slow: how many replies are delayed. */
  slowReplies: number;
  /** Which running worker is the victim (a fraction of the list, sorted by name). */
  pick: number;
}

/**
 * Rounds of all six kinds, each round shuffled, a few seconds apart, until the
 * duration ends (smoke: exactly one round spread over the duration). Only the
 * seed decides it; at run time a fault waits while the same server is still
 * down from the previous one.
 */
function planFaults(rand: () => number): PlannedFault[] {
  const faults: PlannedFault[] = [];
  let at = 0;
  for (;;) {
    for (const kind of shuffle(rand, [...FAULT_KINDS])) {
      at += smoke ? between(rand, (DURATION_MS / 7) * 0.8, (DURATION_MS / 7) * 1.2) : between(rand, 2000, 5000);
      if (!smoke && at >= DURATION_MS) return faults;
      const pauseMs =
        kind === 'smtp-down' ? between(rand, 2000, 6000)
        : kind === 'temporal-kill' || kind === 'postgres-kill' ? between(rand, 1000, 2000)
        : between(rand, 1000, 3000);
      faults.push({ kind, atMs: at, pauseMs, slowReplies: between(rand, 3, 6), pick: rand() });
    }
    if (smoke) return faults;
  }
}

// ---------------------------------------------------------------- small helpers

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const t0 = Date.now();
const stamp = () => `[+${((Date.now() - t0) / 1000).toFixed(1).padStart(6)}s]`;
const log = (line: string) => console.log(`${stamp()} ${line}`);
const errorText = (err: unknown) => (err instanceof Error ? err.message : String(err)).replace(/\s*\n\s*/g, ' | ').slice(0, 400);

function machine() {
  let cpuModel = os.cpus()[0]?.model ?? 'unknown';
  try {
    cpuModel = /^model name\s*:\s*(.+)$/m.exec(execFileSync('cat', ['/proc/cpuinfo'], { encoding: 'utf8' }))?.[1]?.trim() ?? cpuModel;
  } catch {
    // keep os.cpus()
  }
  let nproc = os.availableParallelism();
  try {
    nproc = Number(execFileSync('nproc', { encoding: 'utf8' }).trim()) || nproc;
  } catch {
    // keep availableParallelism
  }
  return {
    nproc,
    cpuModel,
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    loadAverageAtStart: os.loadavg().map((l) => Math.round(l * 100) / 100),
    node: process.version,
  };
}

// ---------------------------------------------------------------- state

const emailRand = mulberry32(SEED ^ 0x5eed_e4a1);
const faultRand = mulberry32(SEED);
const emails = planEmails(emailRand);
const faultPlan = planFaults(faultRand);

let stack: Stack | undefined;
let mailer: Mailer | undefined;
let dataDir: string | undefined;
let workerEnv: Record<string, string> = {};
/** Set once the run is over (restore, teardown): worker exits no longer get replacements. */
let stopping = false;
let interrupted = false;

const fleet = new Set<ManagedChild>();
const intentional = new WeakSet<ManagedChild>();
let workerSeq = 0;

const stats = {
  sendErrors: 0,
  cancelErrors: 0,
  workflowStartDeferred: 0,
  workerSpawnFailures: 0,
  /** Why worker processes failed to start: their last words, counted. */
  workerSpawnFailureReasons: {} as Record<string, number>,
  unexpectedWorkerExits: [] as { name: string; code: number | null; atS: number }[],
  sigtermExitCodes: [] as (number | null)[],
  relaunchFailures: { temporal: 0, postgres: 0, smtp: 0 },
  harnessErrors: [] as string[],
};
const faultCounts = Object.fromEntries(FAULT_KINDS.map((k) => [k, 0])) as Record<FaultKind, number>;
const faultsSkipped = Object.fromEntries(FAULT_KINDS.map((k) => [k, 0])) as Record<FaultKind, number>;
/** Seconds from the start of the run (the `[+…s]` of the log). */
const faultLog: { kind: FaultKind; plannedAtS: number; injectedAtS?: number; restoredAtS?: number; detail: string }[] = [];
const background: Promise<unknown>[] = [];

process.on('unhandledRejection', (err) => {
  stats.harnessErrors.push(`unhandled rejection: ${errorText(err)}`);
  log(`harness error (unhandled rejection): ${errorText(err)}`);
});

// ---------------------------------------------------------------- workers

let workerLogDir: string | undefined;

/** A worker as a real child process (spawnWorker), its log in the run's folder; start failures are tallied by reason. */
async function startWorkerProcess(name: string): Promise<ManagedChild> {
  if (!workerLogDir) throw new Error('no folder for worker logs');
  try {
    return await spawnWorker(workerEnv, name, { logDir: workerLogDir, timeoutMs: 120_000 });
  } catch (err) {
    if (err instanceof WorkerStartError) {
      const reason = err.lastLine.replace(/127\.0\.0\.1:\d+/g, '127.0.0.1:<port>').slice(0, 200);
      stats.workerSpawnFailureReasons[reason] = (stats.workerSpawnFailureReasons[reason] ?? 0) + 1;
      throw new Error(reason);
    }
    throw err;
  }
}

/** Starts one worker process and adds it to the fleet; retried while Temporal or Postgres are down. */
async function addWorker(deadline = Date.now() + SETTLE_MS): Promise<void> {
  for (;;) {
    const name = `worker-${++workerSeq}`;
    try {
      const w = await startWorkerProcess(name);
      fleet.add(w);
      void w.exited.then((code) => {
        fleet.delete(w);
        if (intentional.has(w) || stopping) return;
        stats.unexpectedWorkerExits.push({ name, code, atS: (Date.now() - t0) / 1000 });
        log(`!! ${name} exited on its own (code ${code}); starting a replacement`);
        background.push(addWorker().catch((err) => stats.harnessErrors.push(`replacement worker: ${errorText(err)}`)));
      });
      return;
    } catch (err) {
      stats.workerSpawnFailures++;
      log(`   ${name} did not start (${errorText(err)}); retrying in 1 s`);
      if (Date.now() > deadline || stopping) throw new Error(`no worker could be started: ${errorText(err)}`);
      await sleep(1000);
    }
  }
}

/**
 * A running worker to hit. When none is running (all being replaced), waits
 * up to 30 s, then the fault is skipped and counted as such: piling worker
 * faults up behind a fleet that cannot start would fire them all at once later.
 */
async function pickVictim(pick: number): Promise<ManagedChild | undefined> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const ready = [...fleet].filter((w) => w.running && !intentional.has(w)).sort((a, b) => a.name.localeCompare(b.name, 'en', { numeric: true }));
    if (ready.length) return ready[Math.min(ready.length - 1, Math.floor(pick * ready.length))]!;
    if (Date.now() > deadline || interrupted) return undefined;
    await sleep(200);
  }
}

function skipped(f: PlannedFault, entry: (typeof faultLog)[number]): void {
  faultsSkipped[f.kind]++;
  entry.detail = 'skipped: no worker was running for 30 s';
  log(`!! fault ${f.kind} ${entry.detail}`);
}

// ---------------------------------------------------------------- faults

/** Relaunches a server until it answers (its port may still be held for a moment, or a crash left a lock). */
async function relaunch(what: 'temporal' | 'postgres' | 'smtp', launch: () => Promise<void>): Promise<void> {
  for (let tries = 1; ; tries++) {
    try {
      await launch();
      return;
    } catch (err) {
      stats.relaunchFailures[what]++;
      log(`   ${what} relaunch failed (${errorText(err)}); retrying in 1 s`);
      if (tries >= 60) throw err;
      await sleep(1000);
    }
  }
}

/** Server kinds that must not be hit again while still down. */
const slotOf = (kind: FaultKind) => (kind === 'temporal-kill' ? 'temporal' : kind === 'postgres-kill' ? 'postgres' : kind === 'smtp-down' ? 'smtp' : undefined);
const busy = new Map<string, Promise<void>>();

async function runFault(f: PlannedFault, entry: (typeof faultLog)[number]): Promise<void> {
  const s = stack!;
  /** Counts the fault, records what it does, and says so. */
  const begin = (detail: string) => {
    faultCounts[f.kind]++;
    entry.injectedAtS = (Date.now() - t0) / 1000;
    entry.detail = detail;
    log(`>> fault ${f.kind}: ${detail}`);
  };
  /** One part of the stack down for the fault's pause, then back. */
  const outage = async (detail: string, part: 'temporal' | 'postgres' | 'smtp', down: () => Promise<void>, up: () => Promise<void>) => {
    begin(detail);
    await down();
    await sleep(f.pauseMs);
    await relaunch(part, up);
  };
  switch (f.kind) {
    case 'worker-sigkill': {
      const victim = await pickVictim(f.pick);
      if (!victim) return skipped(f, entry);
      intentional.add(victim);
      begin(`SIGKILL ${victim.name}, replacement after ${f.pauseMs} ms`);
      await victim.kill();
      await sleep(f.pauseMs);
      await addWorker();
      break;
    }
    case 'worker-sigterm': {
      const victim = await pickVictim(f.pick);
      if (!victim) return skipped(f, entry);
      intentional.add(victim);
      begin(`SIGTERM ${victim.name}, replacement after ${f.pauseMs} ms`);
      const exited = victim.stop(30_000).then(() => {
        const code = victim.process.exitCode;
        stats.sigtermExitCodes.push(code);
        if (code !== 0) log(`!! ${victim.name} exited with ${code ?? victim.process.signalCode} after SIGTERM`);
      });
      await sleep(f.pauseMs);
      await addWorker();
      await exited;
      break;
    }
    case 'temporal-kill':
      await outage(`SIGKILL the Temporal dev server, relaunch after ${f.pauseMs} ms`, 'temporal', () => s.temporal!.kill(), () => s.temporal!.launch());
      break;
    case 'postgres-kill':
      await outage(`SIGKILL Postgres, relaunch after ${f.pauseMs} ms`, 'postgres', () => s.postgres!.kill(), () => s.postgres!.launch());
      break;
    case 'smtp-down':
      await outage(`SMTP sink down for ${f.pauseMs} ms`, 'smtp', () => s.smtp!.close(), () => s.smtp!.listen());
      break;
    case 'smtp-slow':
      begin(`next ${f.slowReplies} SMTP replies after 3000 ms`);
      for (let k = 0; k < f.slowReplies; k++) s.smtp!.replyQueue.push({ kind: 'accept', delayMs: 3000 });
      break;
  }
  entry.restoredAtS = (Date.now() - t0) / 1000;
  if (f.kind !== 'smtp-slow') log(`<< restored after ${f.kind} (${entry.detail})`);
}

async function injectFaults(start: number): Promise<void> {
  for (const f of faultPlan) {
    const wait = start + f.atMs - Date.now();
    if (wait > 0) await sleep(wait);
    if (interrupted) return;
    const slot = slotOf(f.kind);
    while (slot && busy.has(slot)) await busy.get(slot);
    const entry: (typeof faultLog)[number] = { kind: f.kind, plannedAtS: (start + f.atMs - t0) / 1000, detail: '' };
    faultLog.push(entry);
    const task = runFault(f, entry).catch((err) => {
      stats.harnessErrors.push(`fault ${f.kind}: ${errorText(err)}`);
      log(`!! fault ${f.kind} could not be completed: ${errorText(err)}`);
    });
    if (slot) {
      const done = task.finally(() => busy.delete(slot));
      busy.set(slot, done);
    }
    background.push(task);
  }
}

// ---------------------------------------------------------------- submission

let lastSubmitAt = 0;

/** What a real backend does: the same call with the same key until it succeeds. */
async function submit(email: PlannedEmail, giveUpAt: number): Promise<void> {
  const m = mailer!;
  const sendAt = email.sendAfterMs ? new Date(Date.now() + email.sendAfterMs) : undefined;
  const input = { from: FROM, to: [email.to], subject: `chaos ${SEED} #${email.i} (${email.kind})`, text: `Chaos run ${SEED}, email ${email.i}.` };
  for (;;) {
    try {
      const result = await m.send(input, { idempotencyKey: email.key, ...(sendAt ? { sendAt } : {}) });
      email.id = result.id;
      email.workflowStarted = result.workflowStarted;
      if (!result.workflowStarted) stats.workflowStartDeferred++;
      break;
    } catch (err) {
      if (err instanceof ValidationError || err instanceof IdempotencyConflictError) {
        email.submitError = `${err.name}: ${err.message}`;
        stats.harnessErrors.push(`email ${email.i}: ${email.submitError}`);
        return;
      }
      stats.sendErrors++;
      if (Date.now() > giveUpAt || interrupted) {
        email.submitError = errorText(err);
        return;
      }
      await sleep(500);
    }
  }
  if (email.kind === 'cancelled') {
    for (;;) {
      try {
        email.cancelResult = (await m.cancel(email.id!)).status;
        break;
      } catch (err) {
        stats.cancelErrors++;
        if (Date.now() > giveUpAt || interrupted) {
          email.cancelResult = `error: ${errorText(err)}`;
          break;
        }
        await sleep(500);
      }
    }
  }
  lastSubmitAt = Date.now();
}

async function submitAll(start: number): Promise<void> {
  const giveUpAt = start + DURATION_MS + SETTLE_MS;
  const tasks: Promise<void>[] = [];
  for (const email of emails) {
    const wait = start + email.atMs - Date.now();
    if (wait > 0) await sleep(wait);
    if (interrupted) break;
    tasks.push(submit(email, giveUpAt));
  }
  await Promise.all(tasks);
}

// ---------------------------------------------------------------- settling and the scoreboard

const FINAL = ['sent', 'blocked', 'failed', 'cancelled'];

async function statusCounts(ids: string[]): Promise<Record<string, number>> {
  const { rows } = await mailer!.pool.query<{ status: string; n: number }>(
    'SELECT status, count(*)::int AS n FROM mailer.emails WHERE id = ANY($1::uuid[]) GROUP BY status ORDER BY status',
    [ids],
  );
  return Object.fromEntries(rows.map((r) => [r.status, r.n]));
}

async function settle(ids: string[], deadline: number): Promise<boolean> {
  let lastLog = 0;
  for (;;) {
    let counts: Record<string, number> | undefined;
    try {
      counts = await statusCounts(ids);
    } catch (err) {
      log(`   status query failed: ${errorText(err)}`);
    }
    if (counts) {
      const open = Object.entries(counts).filter(([s]) => !FINAL.includes(s)).reduce((n, [, c]) => n + c, 0);
      if (open === 0) return true;
      if (Date.now() - lastLog >= 10_000) {
        lastLog = Date.now();
        log(`   settling: ${Object.entries(counts).map(([s, n]) => `${s} ${n}`).join(', ')}`);
      }
    }
    if (Date.now() > deadline || interrupted) return false;
    await sleep(1000);
  }
}

interface Row {
  id: string;
  status: string;
  possibly_delivered: boolean;
  uncertain_resends: number;
  attempts: number;
  message_id: string;
}

interface BadEmail {
  id: string;
  i: number;
  kind: EmailKind;
  problem: string;
}

function messageIdOf(raw: Buffer): string | undefined {
  const text = raw.toString('latin1');
  const headerEnd = text.indexOf('\r\n\r\n');
  const head = headerEnd >= 0 ? text.slice(0, headerEnd) : text;
  return /^message-id:\s*(<[^>\r\n]+>)/im.exec(head)?.[1];
}

async function scoreboard(timings: { submissionStart: number; submissionMs: number; restoreMs: number; settleMs: number }) {
  const submitted = emails.filter((e) => e.id);
  const ids = submitted.map((e) => e.id!);
  const { rows } = await mailer!.pool.query<Row>(
    'SELECT id, status, possibly_delivered, uncertain_resends, attempts, message_id FROM mailer.emails WHERE id = ANY($1::uuid[])',
    [ids],
  );
  const byId = new Map(rows.map((r) => [r.id, r]));
  const last = await mailer!.pool.query<{ at: Date | null }>(
    "SELECT max(updated_at) AS at FROM mailer.emails WHERE id = ANY($1::uuid[]) AND status IN ('sent', 'blocked', 'failed', 'cancelled')",
    [ids],
  );
  const lastFinalAt = last.rows[0]?.at?.getTime();
  const copies = new Map<string, number[]>();
  for (const m of stack!.smtp!.messages) {
    const mid = messageIdOf(m.raw) ?? '(none)';
    copies.set(mid, [...(copies.get(mid) ?? []), m.seq]);
  }
  const known = new Set(rows.map((r) => r.message_id));
  const unknownMessages = [...copies.entries()].filter(([mid]) => !known.has(mid)).reduce((n, [, seqs]) => n + seqs.length, 0);

  const count = { sent: 0, blocked: 0, failed: 0, cancelled: 0, lost: 0 };
  let duplicates = 0;
  let duplicatesInWindow = 0;
  let possiblyDelivered = 0;
  let uncertainResends = 0;
  let attempts = 0;
  let cancelRaceWonBySend = 0;
  const bad: BadEmail[] = [];
  const mismatches: BadEmail[] = [];
  for (const e of submitted) {
    const row = byId.get(e.id!);
    if (!row) {
      count.lost++;
      bad.push({ id: e.id!, i: e.i, kind: e.kind, problem: 'lost: no record' });
      continue;
    }
    const n = copies.get(row.message_id)?.length ?? 0;
    if (row.possibly_delivered) possiblyDelivered++;
    uncertainResends += row.uncertain_resends;
    attempts += row.attempts;
    if (!FINAL.includes(row.status)) {
      count.lost++;
      bad.push({ id: row.id, i: e.i, kind: e.kind, problem: `lost: still ${row.status}` });
      continue;
    }
    count[row.status as keyof typeof count]++;
    if (row.status === 'sent') {
      if (n === 0) bad.push({ id: row.id, i: e.i, kind: e.kind, problem: 'missing: recorded sent, never received' });
      if (n > 1) {
        duplicates += n - 1;
        if (row.possibly_delivered) duplicatesInWindow += n - 1;
        else bad.push({ id: row.id, i: e.i, kind: e.kind, problem: `duplicate outside the uncertain window: ${n} copies` });
      }
    } else if (n > 0) {
      const m = { id: row.id, i: e.i, kind: e.kind, problem: `recorded ${row.status} but received ${n} time(s)` };
      mismatches.push(m);
      bad.push(m);
    }
    const expected = e.kind === 'blocked' ? ['blocked'] : e.kind === 'rejected' ? ['failed'] : e.kind === 'cancelled' ? ['cancelled', 'sent'] : ['sent'];
    if (e.kind === 'cancelled' && row.status === 'sent') cancelRaceWonBySend++;
    if (!expected.includes(row.status)) {
      const m = { id: row.id, i: e.i, kind: e.kind, problem: `expected ${expected.join(' or ')}, got ${row.status}` };
      mismatches.push(m);
      bad.push(m);
    }
  }
  const missing = bad.filter((b) => b.problem.startsWith('missing')).length;
  const duplicatesOutsideWindow = duplicates - duplicatesInWindow;
  const unsubmitted = emails.filter((e) => !e.id);
  const failures: string[] = [];
  if (count.lost) failures.push(`${count.lost} lost`);
  if (missing) failures.push(`${missing} missing`);
  if (duplicatesOutsideWindow) failures.push(`${duplicatesOutsideWindow} duplicates outside the uncertain window`);
  if (mismatches.length) failures.push(`${new Set(mismatches.map((m) => m.id)).size} expected-outcome mismatches`);
  if (unsubmitted.length) failures.push(`${unsubmitted.length} emails never accepted by send()`);
  if (unknownMessages) failures.push(`${unknownMessages} messages at the sink that match no submitted email`);
  if (stats.harnessErrors.length) failures.push(`${stats.harnessErrors.length} harness errors`);
  return {
    result: {
      pass: failures.length === 0,
      failures,
      seed: SEED,
      options: { emails: EMAILS, durationS: DURATION_MS / 1000, workers: WORKERS, settleDeadlineS: SETTLE_MS / 1000, smoke },
      submitted: submitted.length,
      ...count,
      duplicates,
      duplicatesInUncertainWindow: duplicatesInWindow,
      duplicatesOutsideWindow,
      missing,
      mismatches: new Set(mismatches.map((m) => m.id)).size,
      mix: Object.fromEntries((['normal', 'scheduled', 'blocked', 'rejected', 'cancelled'] as const).map((k) => [k, emails.filter((e) => e.kind === k).length])),
      cancelRaceWonBySend,
      possiblyDelivered,
      uncertainResends,
      deliveryAttempts: attempts,
      sinkMessages: stack!.smtp!.messages.length,
      unknownMessages,
      unsubmitted: unsubmitted.length,
      sendRetries: stats.sendErrors,
      cancelRetries: stats.cancelErrors,
      workflowStartDeferred: stats.workflowStartDeferred,
      faults: { ...faultCounts },
      faultsSkipped: { ...faultsSkipped },
      unexpectedWorkerExits: stats.unexpectedWorkerExits,
      workerSpawnFailures: stats.workerSpawnFailures,
      workerSpawnFailureReasons: stats.workerSpawnFailureReasons,
      sigtermExitCodes: stats.sigtermExitCodes,
      relaunchFailures: stats.relaunchFailures,
      harnessErrors: stats.harnessErrors,
      elapsedS: {
        submission: timings.submissionMs / 1000,
        restore: timings.restoreMs / 1000,
        settle: timings.settleMs / 1000,
        /** From the first submission to the moment the last email became final (its record's updated_at). */
        lastFinalAfterStart: lastFinalAt ? Math.round(lastFinalAt - timings.submissionStart) / 1000 : null,
        total: 0,
      },
      workerConfig: Object.fromEntries(Object.entries(workerEnv).filter(([k]) => !['TEMPORAL_ADDRESS', 'TEMPORAL_NAMESPACE', 'TEMPORAL_UI_URL', 'DATABASE_URL', 'SMTP_URL'].includes(k))),
      machine: machine(),
      faultLog,
      problems: bad.slice(0, 100),
      diagnostics: undefined as string | undefined,
      portsReleased: undefined as boolean | undefined,
    },
    bad,
  };
}

/** Everything needed to understand a bad email, while the stack still runs: its record, its copies, its workflow's history. */
async function diagnose(bad: BadEmail[]): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), `mailer-chaos-${SEED}-`));
  const s = stack!;
  const lines: string[] = [`chaos run seed ${SEED}: ${bad.length} bad email(s)`, ''];
  for (const b of bad.slice(0, 10)) {
    lines.push(`== email #${b.i} (${b.kind}) ${b.id}: ${b.problem}`);
    try {
      const { rows } = await mailer!.pool.query(
        `SELECT id, status, email_has_been_sent, sent_at, attempts, last_error, smtp_response, possibly_delivered, uncertain_resends,
                held_since, delivery_claim, delivery_claimed_at, send_at, created_on, updated_at, message_id, idempotency_key, block_reason
           FROM mailer.emails WHERE id = $1`,
        [b.id],
      );
      lines.push(`record: ${JSON.stringify(rows[0], null, 2)}`);
      const mid = rows[0]?.message_id as string | undefined;
      const received = s.smtp!.messages.filter((m) => mid && messageIdOf(m.raw) === mid).map((m) => `#${m.seq} at ${m.receivedAt}`);
      lines.push(`received by the sink: ${received.length ? received.join(', ') : 'never'}`);
    } catch (err) {
      lines.push(`record: (query failed: ${errorText(err)})`);
    }
    for (const sub of ['describe', 'show']) {
      try {
        const { stdout } = await run(s.info.temporalCli ?? 'temporal', ['workflow', sub, '-w', `email-${b.id}`, '--address', s.info.temporalAddress, '--namespace', s.info.temporalNamespace], { timeout: 30_000, maxBuffer: 16 * 2 ** 20 });
        lines.push(`temporal workflow ${sub}:`, stdout.trimEnd());
      } catch (err) {
        lines.push(`temporal workflow ${sub}: failed: ${(err as { stderr?: string }).stderr?.trim() || errorText(err)}`);
      }
    }
    lines.push('');
  }
  await writeFile(path.join(dir, 'report.txt'), `${lines.join('\n')}\n`);
  for (const file of [path.join(s.info.dataDir, 'temporal.log'), path.join(s.info.dataDir, 'postgres.log')]) {
    await copyFile(file, path.join(dir, path.basename(file))).catch(() => {});
  }
  if (workerLogDir) await run('cp', ['-r', workerLogDir, path.join(dir, 'workers')]).catch(() => {});
  console.log(lines.slice(0, 200).join('\n'));
  return dir;
}

function printTable(r: Awaited<ReturnType<typeof scoreboard>>['result']): void {
  const rowsOut: [string, string | number][] = [
    ['seed', r.seed],
    ['emails / duration / workers', `${r.options.emails} / ${r.options.durationS} s / ${r.options.workers}`],
    ['submitted', r.submitted],
    ['  sent', r.sent],
    ['  blocked', r.blocked],
    ['  failed', r.failed],
    ['  cancelled', r.cancelled],
    ['  lost', r.lost],
    ['duplicates', r.duplicates],
    ['  in the uncertain window', r.duplicatesInUncertainWindow],
    ['  outside it', r.duplicatesOutsideWindow],
    ['missing (sent, never received)', r.missing],
    ['expected-outcome mismatches', r.mismatches],
    ['possibly_delivered records', r.possiblyDelivered],
    ['cancel races won by the send', r.cancelRaceWonBySend],
    ['send() retries (threw)', r.sendRetries],
    ['workflow starts left to reconcile', r.workflowStartDeferred],
    ['delivery attempts', r.deliveryAttempts],
    ['messages at the sink', r.sinkMessages],
    ...FAULT_KINDS.map((k): [string, string | number] => [`fault ${k}`, r.faultsSkipped[k] ? `${r.faults[k]} (${r.faultsSkipped[k]} skipped: no worker running)` : r.faults[k]]),
    ['workers that died on their own', r.unexpectedWorkerExits.length],
    ['worker starts that failed', r.workerSpawnFailures],
    ...Object.entries(r.workerSpawnFailureReasons).map(([reason, n]): [string, string] => [`  ${n} ×`, reason.slice(0, 90)]),
    ['submission', `${r.elapsedS.submission.toFixed(1)} s`],
    ['restore', `${r.elapsedS.restore.toFixed(1)} s`],
    ['settle (after restore)', `${r.elapsedS.settle.toFixed(1)} s`],
    ['last email final', r.elapsedS.lastFinalAfterStart === null ? '-' : `${r.elapsedS.lastFinalAfterStart.toFixed(1)} s after the first submission`],
    ['total (with stack start/stop)', `${r.elapsedS.total.toFixed(1)} s`],
    ['machine', `${r.machine.nproc} cores, ${r.machine.cpuModel}, ${r.machine.memoryGiB} GiB`],
    ['result', r.pass ? 'PASS' : `FAIL: ${r.failures.join('; ')}`],
  ];
  const width = Math.max(...rowsOut.map(([k]) => k.length));
  console.log(`\nChaos run scoreboard\n${'-'.repeat(width + 24)}`);
  for (const [k, v] of rowsOut) console.log(`${k.padEnd(width)}  ${String(v)}`);
  console.log('-'.repeat(width + 24));
}

// ---------------------------------------------------------------- teardown

let cleanupPromise: Promise<boolean> | undefined;

/** Stops every process this run started and deletes its data; true when every port of the stack is free again. */
function cleanup(keepLogs: boolean): Promise<boolean> {
  cleanupPromise ??= (async () => {
    stopping = true;
    await Promise.allSettled([...fleet].map((w) => {
      intentional.add(w);
      return w.kill();
    }));
    await mailer?.close().catch(() => {});
    const ports: number[] = [];
    if (stack) {
      const info = stack.info;
      ports.push(Number(info.temporalAddress.split(':').pop()), Number(new URL(info.databaseUrl).port), Number(new URL(info.smtpUrl).port));
      if (info.temporalUiUrl) ports.push(Number(new URL(info.temporalUiUrl).port));
      await stack.stop().catch((err) => log(`stack stop: ${errorText(err)}`));
      await stack.postgres?.destroy().catch((err) => log(`postgres destroy: ${errorText(err)}`));
    }
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
    if (workerLogDir && !keepLogs) await rm(workerLogDir, { recursive: true, force: true });
    const free = await Promise.all(ports.map((p) => isPortFree(p)));
    return free.every(Boolean);
  })();
  return cleanupPromise;
}

// This process plays the backend that calls send(): if anything it runs
// crashes it, the run stops and says so (nothing is swallowed), and the
// stack is still torn down.
let fatal = false;
process.on('uncaughtException', (err) => {
  const text = err instanceof Error ? (err.stack ?? err.message) : String(err);
  const code = err instanceof Error && 'code' in err ? ` (code ${String((err as { code: unknown }).code)})` : '';
  if (fatal || stopping) {
    // Already tearing down (e.g. a Temporal call retrying on a closed connection): say so, keep tearing down.
    console.error(`${stamp()} (during teardown) uncaught exception${code}: ${text.split('\n')[0]}`);
    return;
  }
  fatal = true;
  interrupted = true;
  console.error(`${stamp()} FATAL: uncaught exception in the submitting process (the backend role); the run stops here.${code}`);
  console.error(text);
  void cleanup(true).finally(() => {
    if (workerLogDir) console.error(`worker logs kept in ${workerLogDir}`);
    process.exit(1);
  });
});

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    interrupted = true;
    log(`${signal}: stopping every process of the run and deleting its data…`);
    void cleanup(false).finally(() => process.exit(130));
  });
}

// ---------------------------------------------------------------- main

async function main(): Promise<number> {
  log(`chaos run: ${EMAILS} emails over ${DURATION_MS / 1000} s, ${WORKERS} worker(s), seed ${SEED}, settle deadline ${SETTLE_MS / 1000} s${smoke ? ' (smoke)' : ''}`);
  log(`fault schedule: ${faultPlan.length} faults (${FAULT_KINDS.map((k) => `${k} ${faultPlan.filter((f) => f.kind === k).length}`).join(', ')})`);

  dataDir = await mkdtemp(path.join(os.tmpdir(), 'mailer-chaos-stack-'));
  await chmod(dataDir, 0o755);
  const bare = { ...process.env };
  for (const name of ['TEMPORAL_ADDRESS', 'DATABASE_URL', 'SMTP_URL']) delete bare[name];
  stack = await startStack({ dataDir, ephemeral: false, env: bare, log: (line) => log(`[stack] ${line}`) });
  if (!stack.temporal || !stack.postgres || !stack.smtp) throw new Error('the chaos run needs its own Temporal, Postgres and SMTP sink');
  if (interrupted) return 130;
  const smtp = stack.smtp;
  smtp.rejectRecipient = (address) => (address.toLowerCase().endsWith(REJECT_DOMAIN) ? { code: 550, message: '5.1.1 no such mailbox here' } : undefined);
  log(`stack up: Temporal ${stack.info.temporalAddress} (UI ${stack.info.temporalUiUrl}), Postgres :${new URL(stack.info.databaseUrl).port}, SMTP sink ${stack.info.smtpUrl}, data ${dataDir}`);

  workerEnv = {
    ...stackEnv(stack.info),
    SMTP_URL: stack.info.smtpUrl,
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
  log(`worker config: ${Object.entries(workerEnv).filter(([k]) => /^(DELIVER|SMTP_SOCKET|WORKER|RECONCILE|TEMPORAL_TASK)/.test(k)).map(([k, v]) => `${k}=${v}`).join(' ')}`);

  workerLogDir = await mkdtemp(path.join(os.tmpdir(), 'mailer-chaos-workers-'));
  mailer = await Mailer.connect({ config: loadConfig(workerEnv) });
  await mailer.pool.query("INSERT INTO mailer.recipient_rules (kind, pattern) VALUES ('deny', $1) ON CONFLICT DO NOTHING", [BLOCKED_DOMAIN]);
  await Promise.all(Array.from({ length: WORKERS }, () => addWorker(Date.now() + 120_000)));
  log(`${WORKERS} worker(s) polling; mix: ${['normal', 'scheduled', 'blocked', 'rejected', 'cancelled'].map((k) => `${k} ${emails.filter((e) => e.kind === k).length}`).join(', ')}`);
  if (interrupted) return 130;

  const start = Date.now();
  const progress = setInterval(() => {
    const done = emails.filter((e) => e.id).length;
    log(`   submitted ${done}/${EMAILS}, send() retries ${stats.sendErrors}, starts left to reconcile ${stats.workflowStartDeferred}, sink ${smtp.messages.length} messages, workers ${fleet.size}`);
  }, 5000);
  const faults = injectFaults(start);
  await submitAll(start);
  const submissionMs = (lastSubmitAt || Date.now()) - start;
  log(`submission done in ${(submissionMs / 1000).toFixed(1)} s (${emails.filter((e) => e.id).length} accepted)`);
  await faults;
  // Restore: each fault restores what it broke (a fault may add further
  // background work: a replacement worker); then no scripted slowness left,
  // every server up, the full fleet.
  const restoreStart = Date.now();
  while (background.length) await Promise.allSettled(background.splice(0));
  clearInterval(progress);
  await relaunch('smtp', () => smtp.listen());
  smtp.replyQueue.length = 0;
  while (fleet.size < WORKERS) await addWorker();
  const restoreMs = Date.now() - restoreStart;
  log(`restored: Temporal, Postgres and the SMTP sink up, ${fleet.size} worker(s) running; faults injected: ${FAULT_KINDS.map((k) => `${k} ${faultCounts[k]}`).join(', ')}`);

  const settleStart = Date.now();
  const ids = emails.filter((e) => e.id).map((e) => e.id!);
  const settled = await settle(ids, settleStart + SETTLE_MS);
  const settleMs = Date.now() - settleStart;
  log(settled ? `every email final after ${(settleMs / 1000).toFixed(1)} s` : `settle deadline reached after ${(settleMs / 1000).toFixed(1)} s`);
  if (interrupted) return 130;
  // Let anything still in flight at the sink land before counting copies.
  await sleep(1000);

  const { result, bad } = await scoreboard({ submissionStart: start, submissionMs, restoreMs, settleMs });
  if (!result.pass) {
    result.diagnostics = await diagnose(bad);
    log(`diagnostics (records, workflow histories, every log) kept in ${result.diagnostics}`);
  }
  result.portsReleased = await cleanup(!result.pass || KEEP_LOGS);
  if (workerLogDir && (!result.pass || KEEP_LOGS)) console.log(`worker logs kept in ${workerLogDir}`);
  result.elapsedS.total = (Date.now() - t0) / 1000;
  printTable(result);
  console.log(`ports of the run's stack released: ${result.portsReleased ? 'yes' : 'NO'}`);
  if (OUT) {
    await mkdir(path.dirname(OUT), { recursive: true });
    await writeFile(OUT, `${JSON.stringify(result, null, 2)}\n`);
    console.log(`scoreboard written to ${OUT}`);
  }
  return result.pass ? 0 : 1;
}

main().then(
  async (code) => {
    // Interrupted: the signal handler is tearing down; exit when it has.
    if (interrupted) await cleanup(fatal).catch(() => {});
    process.exit(fatal ? 1 : code);
  },
  async (err: unknown) => {
    console.error(`chaos run failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    await cleanup(true).catch(() => {});
    if (workerLogDir) console.error(`worker logs kept in ${workerLogDir}`);
    process.exit(1);
  },
);
