// The relay: starts the workflows of emails enqueued in someone else's
// transaction (send() with `db`, or SQL's send_email), once that transaction
// has committed. It runs in every worker.
//
//  - Wake-up: a dedicated connection LISTENs on the outbox's channel. The
//    outbox trigger notifies, and Postgres delivers a notification only when
//    the inserting transaction commits (a rollback drops it), so a wake-up
//    means committed work. The connection reconnects (and re-LISTENs) after
//    Postgres restarts, and runs a pass at once for whatever committed meanwhile.
//  - A sweep every MAILER_RELAY_SWEEP_INTERVAL covers a missed notification or
//    a time when no relay was connected; the reconcile Schedule stays the last net.
//  - A pass locks up to BATCH outbox rows with FOR UPDATE SKIP LOCKED (several
//    workers share the rows, none waits for another), validates the ones
//    submitted through SQL (admitted or `rejected`, committed on their own
//    before any start, so the workflow reads them), starts every workflow
//    (idempotent by workflow id: a start that was already made joins it), and
//    deletes the rows it started in the same transaction. A worker that dies
//    mid-pass releases its locks with its connection; the rows are still there.
import type { Client } from '@temporalio/client';
import pg from 'pg';
import { mapLimit } from './concurrency.ts';
import type { Config } from './config.ts';
import { type Db, quoteIdent } from './db/schema.ts';
import { admit } from './email/admit.ts';
import { startEmailWorkflow } from './email/start.ts';

/** Rows per pass: one transaction, one DELETE. */
export const RELAY_BATCH = 200;
/** Workflow starts in flight per pass. */
const START_CONCURRENCY = 32;

export interface RelayOptions {
  db: Db;
  temporal: Client;
  config: Config;
  /** Where problems are reported (default: stderr, one line each, changes only). */
  report?: (line: string) => void;
}

export interface Relay {
  /** Stops listening and sweeping; waits for a pass in flight. */
  stop(): Promise<void>;
}

interface PendingRow {
  id: string;
  send_at: Date | null;
  unadmitted: boolean;
  message: unknown;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref());
const messageOf = (err: unknown) => (err instanceof Error ? err.message : String(err));

export function startRelay({ db, temporal, config, report = (line) => console.error(`[relay] ${line}`) }: RelayOptions): Relay {
  const { t } = db;
  let client: pg.Client | undefined;
  let stopped = false;
  let wanted = false;
  let running: Promise<void> | undefined;
  let reconnectTimer: NodeJS.Timeout | undefined;
  let reconnectDelayMs = 250;
  let lastProblem: string | undefined;
  // Repeated failures (Temporal down for minutes) are said once, and their end too.
  const problem = (line: string | undefined) => {
    if (line === lastProblem) return;
    if (line) report(line);
    else if (lastProblem) report('recovered');
    lastProblem = line;
  };

  const connect = async () => {
    reconnectTimer = undefined;
    if (stopped) return;
    const c = new pg.Client({
      connectionString: config.databaseUrl,
      // Lets an operator (and the fault tests) tell which process holds a pass's locks.
      application_name: `mailer-relay ${process.pid}`,
      keepAlive: true,
      connectionTimeoutMillis: 10_000,
    });
    let gone = false;
    const lost = (why: string) => {
      if (gone) return;
      gone = true;
      if (client === c) client = undefined;
      c.end().catch(() => {});
      if (stopped) return;
      problem(`lost its Postgres connection (${why}); reconnecting`);
      reconnectTimer = setTimeout(() => void connect(), reconnectDelayMs);
      reconnectDelayMs = Math.min(reconnectDelayMs * 2, 5000);
    };
    // An 'error' with no listener would kill the worker; the connection is replaced instead.
    c.on('error', (err) => lost(err.message));
    c.on('end', () => lost('connection closed'));
    c.on('notification', () => wake());
    try {
      await c.connect();
      await c.query(`LISTEN ${quoteIdent(t.outboxChannel)}`);
    } catch (err) {
      lost(messageOf(err));
      return;
    }
    if (stopped) {
      gone = true;
      await c.end().catch(() => {});
      return;
    }
    client = c;
    reconnectDelayMs = 250;
    problem(undefined);
    wake(); // whatever committed while nobody was listening
  };

  const pass = async (c: pg.Client): Promise<{ rows: number; failed: number }> => {
    await c.query('BEGIN');
    try {
      const { rows } = await c.query<PendingRow>(
        `SELECT o.email_id AS id, e.send_at, (e.message_id IS NULL AND e.status IN ('queued', 'scheduled')) AS unadmitted, s.message
           FROM ${t.outbox} o
           JOIN ${t.emails} e ON e.id = o.email_id
           LEFT JOIN ${t.submissions} s ON s.email_id = o.email_id AND e.message_id IS NULL AND e.status IN ('queued', 'scheduled')
          ORDER BY o.enqueued_at
          LIMIT $1
          FOR UPDATE OF o SKIP LOCKED`,
        [RELAY_BATCH],
      );
      let failed = 0;
      const startable = await mapLimit(rows, 8, async (row) => {
        if (!row.unadmitted) return true;
        try {
          await admit(db, config, row.id, row.message);
          return true;
        } catch (err) {
          // Left in the outbox for the next pass; the others go on.
          failed++;
          problem(`could not validate email ${row.id}: ${messageOf(err)}`);
          return false;
        }
      });
      const starts = await mapLimit(
        rows.filter((_, i) => startable[i]),
        START_CONCURRENCY,
        async (row) => ({ id: row.id, outcome: await startEmailWorkflow(temporal, config, row.id, row.send_at) }),
      );
      const started = starts.filter((s) => s.outcome.started).map((s) => s.id);
      const notStarted = starts.find((s) => !s.outcome.started)?.outcome;
      if (notStarted && !notStarted.started) {
        failed += starts.length - started.length;
        problem(`could not start ${starts.length - started.length} workflow(s), retrying: ${notStarted.reason}`);
      }
      if (started.length) await c.query(`DELETE FROM ${t.outbox} WHERE email_id = ANY($1::uuid[])`, [started]);
      await c.query('COMMIT');
      if (!failed && rows.length) problem(undefined);
      return { rows: rows.length, failed };
    } catch (err) {
      await c.query('ROLLBACK').catch(() => {});
      throw err;
    }
  };

  const drain = async () => {
    while (wanted && !stopped && client) {
      wanted = false;
      try {
        const { rows, failed } = await pass(client);
        if (failed) await sleep(1000); // Temporal or Postgres is struggling: no tight loop
        else if (rows === RELAY_BATCH) wanted = true; // more are waiting
      } catch (err) {
        problem(`pass failed: ${messageOf(err)}`);
        await sleep(1000);
      }
    }
  };

  function wake(): void {
    wanted = true;
    if (running || stopped || !client) return;
    running = drain().finally(() => {
      running = undefined;
      if (wanted && client && !stopped) wake();
    });
  }

  const sweep = setInterval(wake, config.worker.relaySweepMs);
  sweep.unref();
  void connect();

  return {
    async stop() {
      stopped = true;
      clearInterval(sweep);
      clearTimeout(reconnectTimer);
      await running;
      const c = client;
      client = undefined;
      await c?.end().catch(() => {});
    },
  };
}
