// Retention: what is kept of a final email, and for how long.
//
// After EMAIL_CONTENT_RETENTION (30 days by default) of being final, an
// email's bodies, subject, headers, attachments and addresses are purged;
// addresses are cut out of its SMTP reply, last error and block reason. What
// the guarantees need stays, for as long as the row does: the id, status,
// sent flag and time, Message-ID, idempotency key and payload hash (so the
// key still returns the same email and still refuses another payload),
// attempts, sizes and timestamps. A purged email is final, so no workflow run,
// reconcile or retry can send it again (the claim and every transition are
// guarded by status and the sent flag; `retry` refuses a purged email).
//
// Recipient rows a per-recipient limit may still count are kept (see
// outsideLimitWindows): the email's purge waits until no limit can count them.
//
// EMAIL_RECORD_RETENTION (off by default) deletes whole final records. Past
// it an idempotency key is forgotten: the same key with any payload creates a
// new email, which is sent. Set it longer than any retry of a submission.
//
// Each batch is one statement: it commits whole or not at all, holds its row
// locks for milliseconds, and touches only final rows (never one the sending
// path is working on). So a purge can stop anywhere (a killed worker) and the
// next run picks up where it stopped; two purges at once only share the work.
import type { Config } from '../config.ts';
import type { Db } from '../db/schema.ts';
import {
  contentPurgeDue,
  deleteExpiredRecords,
  limitWindow,
  purgeContent,
  type PurgeBatch,
  recordDeletionDue,
} from './transitions.ts';

export interface RetentionPolicy {
  contentAfterMs: number | undefined;
  recordAfterMs: number | undefined;
  batchSize: number;
  /** The configuration's per-recipient window (minutes; 0 when none): the stored limit is read at purge time. */
  configWindowMinutes: number;
}

export function retentionPolicy(config: Pick<Config, 'retention' | 'rules'>): RetentionPolicy {
  return {
    contentAfterMs: config.retention.contentAfterMs,
    recordAfterMs: config.retention.recordAfterMs,
    batchSize: config.retention.batchSize,
    configWindowMinutes: config.rules.perRecipient?.windowMinutes ?? 0,
  };
}

export interface PurgeResult {
  dryRun: boolean;
  /** Emails whose content was purged (dry run: would be). */
  contentPurged: number;
  /** Whole records deleted (dry run: would be). */
  recordsDeleted: number;
  batches: number;
  durationMs: number;
  /** False when the time budget ran out with work left (the next run continues). */
  done: boolean;
}

export interface PurgeOptions {
  dryRun?: boolean;
  /** Stop starting batches after this long (the Schedule's activity keeps each call short). */
  budgetMs?: number;
  /** After each batch: for heartbeats and progress. */
  onBatch?: (progress: { contentPurged: number; recordsDeleted: number; batches: number }) => void;
}

function batchFor(policy: RetentionPolicy, afterMs: number): PurgeBatch {
  return { afterSeconds: afterMs / 1000, batchSize: policy.batchSize, configWindowMinutes: policy.configWindowMinutes };
}

async function countDue(db: Db, predicate: string, batch: PurgeBatch): Promise<number> {
  const { rows } = await db.pool.query<{ n: number }>(
    `WITH w AS (${limitWindow(db.t, '$2')}) SELECT count(*)::int AS n FROM ${db.t.emails} e, w WHERE ${predicate}`,
    [batch.afterSeconds, batch.configWindowMinutes],
  );
  return rows[0]?.n ?? 0;
}

/**
 * Purges content, then deletes records, batch by batch, until nothing is due
 * or the budget is spent. A dry run counts what is due now and changes nothing.
 */
export async function purgeExpired(db: Db, policy: RetentionPolicy, options: PurgeOptions = {}): Promise<PurgeResult> {
  const started = Date.now();
  const result: PurgeResult = {
    dryRun: options.dryRun ?? false,
    contentPurged: 0,
    recordsDeleted: 0,
    batches: 0,
    durationMs: 0,
    done: true,
  };
  if (options.dryRun) {
    if (policy.contentAfterMs !== undefined)
      result.contentPurged = await countDue(db, contentPurgeDue(db.t, 'e'), batchFor(policy, policy.contentAfterMs));
    if (policy.recordAfterMs !== undefined)
      result.recordsDeleted = await countDue(db, recordDeletionDue(db.t, 'e'), batchFor(policy, policy.recordAfterMs));
    result.durationMs = Date.now() - started;
    return result;
  }
  const phases: [
    number | undefined,
    (db: Db, batch: PurgeBatch) => Promise<number>,
    'contentPurged' | 'recordsDeleted',
  ][] = [
    [policy.contentAfterMs, purgeContent, 'contentPurged'],
    [policy.recordAfterMs, deleteExpiredRecords, 'recordsDeleted'],
  ];
  for (const [afterMs, run, counter] of phases) {
    if (afterMs === undefined) continue;
    const batch = batchFor(policy, afterMs);
    for (;;) {
      if (options.budgetMs !== undefined && Date.now() - started >= options.budgetMs) {
        result.done = false;
        break;
      }
      const n = await run(db, batch);
      result[counter] += n;
      result.batches++;
      options.onBatch?.({
        contentPurged: result.contentPurged,
        recordsDeleted: result.recordsDeleted,
        batches: result.batches,
      });
      // A short batch: nothing more was due (a row that changed while the batch waited for its lock is left to the next run).
      if (n < batch.batchSize) break;
    }
    if (!result.done) break;
  }
  result.durationMs = Date.now() - started;
  return result;
}
