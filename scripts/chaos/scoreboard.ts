// The promise, checked once every email is final: nothing lost, nothing sent
// twice outside the uncertain window, nothing recorded `sent` that the sink
// never received, and every email ends the way its kind says it should.
// `tally` is the judgement (pure: records and received messages in, verdicts
// out); `scoreboard` gathers its inputs and adds what the run counted.
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import type { ReceivedMessage } from '../../dev/stack/smtp-sink.ts';
import { FINAL_STATUSES } from '../../src/email/store.ts';
import type { ChaosRun } from './context.ts';
import { EMAIL_KINDS, type EmailKind, type PlannedEmail } from './plan.ts';

/** The columns of an email's record the judgement reads. */
export interface EmailOutcome {
  id: string;
  status: string;
  possibly_delivered: boolean;
  uncertain_resends: number;
  attempts: number;
  message_id: string;
}

export interface BadEmail {
  id: string;
  i: number;
  kind: EmailKind;
  problem: string;
}

export function messageIdOf(raw: Buffer): string | undefined {
  const text = raw.toString('latin1');
  const headerEnd = text.indexOf('\r\n\r\n');
  const head = headerEnd >= 0 ? text.slice(0, headerEnd) : text;
  return /^message-id:\s*(<[^>\r\n]+>)/im.exec(head)?.[1];
}

/** What each kind of email may end as (a cancel can lose the race against its send). */
const EXPECTED: Record<EmailKind, string[]> = {
  normal: ['sent'],
  scheduled: ['sent'],
  blocked: ['blocked'],
  rejected: ['failed'],
  cancelled: ['cancelled', 'sent'],
};
const isFinal = (status: string) => (FINAL_STATUSES as readonly string[]).includes(status);

/** Judges every submitted email by its record and the copies the sink received (matched by Message-ID). */
export function tally(submitted: PlannedEmail[], rows: EmailOutcome[], received: ReceivedMessage[]) {
  const byId = new Map(rows.map((r) => [r.id, r]));
  const copies = new Map<string, number[]>();
  for (const m of received) {
    const mid = messageIdOf(m.raw) ?? '(none)';
    copies.set(mid, [...(copies.get(mid) ?? []), m.seq]);
  }
  const known = new Set(rows.map((r) => r.message_id));
  const unknownMessages = [...copies.entries()]
    .filter(([mid]) => !known.has(mid))
    .reduce((n, [, seqs]) => n + seqs.length, 0);

  const count = { sent: 0, blocked: 0, failed: 0, cancelled: 0, lost: 0 };
  const t = {
    duplicates: 0,
    duplicatesInWindow: 0,
    possiblyDelivered: 0,
    uncertainResends: 0,
    attempts: 0,
    cancelRaceWonBySend: 0,
  };
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
    if (row.possibly_delivered) t.possiblyDelivered++;
    t.uncertainResends += row.uncertain_resends;
    t.attempts += row.attempts;
    if (!isFinal(row.status)) {
      count.lost++;
      bad.push({ id: row.id, i: e.i, kind: e.kind, problem: `lost: still ${row.status}` });
      continue;
    }
    count[row.status as keyof typeof count]++;
    if (row.status === 'sent') {
      if (n === 0) bad.push({ id: row.id, i: e.i, kind: e.kind, problem: 'missing: recorded sent, never received' });
      if (n > 1) {
        t.duplicates += n - 1;
        if (row.possibly_delivered) t.duplicatesInWindow += n - 1;
        else
          bad.push({
            id: row.id,
            i: e.i,
            kind: e.kind,
            problem: `duplicate outside the uncertain window: ${n} copies`,
          });
      }
    } else if (n > 0) {
      const m = { id: row.id, i: e.i, kind: e.kind, problem: `recorded ${row.status} but received ${n} time(s)` };
      mismatches.push(m);
      bad.push(m);
    }
    const expected = EXPECTED[e.kind];
    if (e.kind === 'cancelled' && row.status === 'sent') t.cancelRaceWonBySend++;
    if (!expected.includes(row.status)) {
      const m = { id: row.id, i: e.i, kind: e.kind, problem: `expected ${expected.join(' or ')}, got ${row.status}` };
      mismatches.push(m);
      bad.push(m);
    }
  }
  const missing = bad.filter((b) => b.problem.startsWith('missing')).length;
  return { count, ...t, missing, mismatches: new Set(mismatches.map((m) => m.id)).size, unknownMessages, bad };
}

export function machine() {
  let cpuModel = os.cpus()[0]?.model ?? 'unknown';
  try {
    cpuModel =
      /^model name\s*:\s*(.+)$/m.exec(execFileSync('cat', ['/proc/cpuinfo'], { encoding: 'utf8' }))?.[1]?.trim() ??
      cpuModel;
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

export interface Timings {
  submissionStart: number;
  submissionMs: number;
  restoreMs: number;
  settleMs: number;
}

/** Environment variables that carry the stack's addresses (and credentials): kept out of the scoreboard. */
const CONNECTION_VARIABLES = ['TEMPORAL_ADDRESS', 'TEMPORAL_NAMESPACE', 'TEMPORAL_UI_URL', 'DATABASE_URL', 'SMTP_URL'];

export async function scoreboard(run: ChaosRun, timings: Timings) {
  const { mailer, smtp } = run.live;
  const { options, stats } = run;
  const submitted = run.emails.filter((e) => e.id);
  const ids = submitted.map((e) => e.id!);
  const { rows } = await mailer.pool.query<EmailOutcome>(
    'SELECT id, status, possibly_delivered, uncertain_resends, attempts, message_id FROM mailer.emails WHERE id = ANY($1::uuid[])',
    [ids],
  );
  const last = await mailer.pool.query<{ at: Date | null }>(
    'SELECT max(updated_at) AS at FROM mailer.emails WHERE id = ANY($1::uuid[]) AND status = ANY($2::text[])',
    [ids, FINAL_STATUSES],
  );
  const lastFinalAt = last.rows[0]?.at?.getTime();
  const t = tally(submitted, rows, smtp.messages);
  const duplicatesOutsideWindow = t.duplicates - t.duplicatesInWindow;
  const unsubmitted = run.emails.filter((e) => !e.id);
  const failures: string[] = [];
  if (t.count.lost) failures.push(`${t.count.lost} lost`);
  if (t.missing) failures.push(`${t.missing} missing`);
  if (duplicatesOutsideWindow) failures.push(`${duplicatesOutsideWindow} duplicates outside the uncertain window`);
  if (t.mismatches) failures.push(`${t.mismatches} expected-outcome mismatches`);
  if (unsubmitted.length) failures.push(`${unsubmitted.length} emails never accepted by send()`);
  if (t.unknownMessages) failures.push(`${t.unknownMessages} messages at the sink that match no submitted email`);
  if (stats.harnessErrors.length) failures.push(`${stats.harnessErrors.length} harness errors`);
  return {
    result: {
      pass: failures.length === 0,
      failures,
      seed: options.seed,
      options: {
        emails: options.emails,
        durationS: options.durationMs / 1000,
        workers: options.workers,
        settleDeadlineS: options.settleMs / 1000,
        smoke: options.smoke,
      },
      submitted: submitted.length,
      ...t.count,
      duplicates: t.duplicates,
      duplicatesInUncertainWindow: t.duplicatesInWindow,
      duplicatesOutsideWindow,
      missing: t.missing,
      mismatches: t.mismatches,
      mix: Object.fromEntries(EMAIL_KINDS.map((k) => [k, run.emails.filter((e) => e.kind === k).length])),
      cancelRaceWonBySend: t.cancelRaceWonBySend,
      possiblyDelivered: t.possiblyDelivered,
      uncertainResends: t.uncertainResends,
      deliveryAttempts: t.attempts,
      sinkMessages: smtp.messages.length,
      unknownMessages: t.unknownMessages,
      unsubmitted: unsubmitted.length,
      sendRetries: stats.sendErrors,
      cancelRetries: stats.cancelErrors,
      workflowStartDeferred: stats.workflowStartDeferred,
      faults: { ...run.faultCounts },
      faultsSkipped: { ...run.faultsSkipped },
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
      workerConfig: Object.fromEntries(
        Object.entries(run.workerEnv).filter(([k]) => !CONNECTION_VARIABLES.includes(k)),
      ),
      machine: machine(),
      faultLog: run.faultLog,
      problems: t.bad.slice(0, 100),
      diagnostics: undefined as string | undefined,
      portsReleased: undefined as boolean | undefined,
    },
    bad: t.bad,
  };
}

export type Scoreboard = Awaited<ReturnType<typeof scoreboard>>['result'];
