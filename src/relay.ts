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
//  - A pass locks up to RELAY_BATCH outbox rows with FOR UPDATE SKIP LOCKED (several
//    workers, and several passes of one worker, share the rows; none waits
//    for another), validates the ones
//    submitted through SQL (admitted or `rejected`, committed on their own
//    before any start, so the workflow reads them), starts every workflow
//    (idempotent by workflow id: a start that was already made joins it), and
//    deletes the rows it started in the same transaction. A worker that dies
//    mid-pass releases its locks with its connection; the rows are still there.
//  - Up to PASSES passes run at once, each on its own connection: a
//    notification that arrives while a pass waits for Temporal's answers starts
//    another pass for the rows committed since, instead of queueing them
//    behind the slowest start of the first.
import type { Client } from '@temporalio/client';
import pg from 'pg';
import { mapLimit } from './concurrency.ts';
import type { Config } from './config.ts';
import { type Db, quoteIdent } from './db/schema.ts';
import { admit } from './email/admit.ts';
import type { PriorityColumns } from './email/priority.ts';
import { startEmailWorkflow } from './email/start.ts';

/**
 * Rows per pass (one transaction, one DELETE), all started at once: a row at
 * the end of a long batch would otherwise wait behind the starts before it.
 */
export const RELAY_BATCH = 50;
/** Passes in flight per worker, each holding one connection of the relay's own pool. */
const PASSES = 4;
/**
 * A start's deadline. Longer than send()'s (which must not hold a web
 * request): a start that times out is made again by the next pass, so on an
 * overloaded server a short deadline only adds to its load.
 */
const START_TIMEOUT_MS = 30_000;

export interface RelayOptions {
  db: Db;
  temporal: Client;
  config: Config;
  /** Where problems are reported (default: stderr, one line each, changes only). */
  report?: (line: string) => void;
}

export interface Relay {
  /** Passes completed so far (each a transaction over the outbox, possibly empty). */
  readonly passes: number;
  /** Stops listening and sweeping; waits for the passes in flight. */
  stop(): Promise<void>;
}

interface PendingRow extends PriorityColumns {
  id: string;
  send_at: Date | null;
  unadmitted: boolean;
  message: unknown;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref());
const messageOf = (err: unknown) => (err instanceof Error ? err.message : String(err));

export function startRelay({
  db,
  temporal,
  config,
  report = (line) => console.error(`[relay] ${line}`),
}: RelayOptions): Relay {
  const { t } = db;
  // Lets an operator (and the fault tests) tell which process holds a pass's locks.
  const name = `mailer-relay ${process.pid}`;
  const passPool = new pg.Pool({
    connectionString: config.databaseUrl,
    max: PASSES,
    application_name: name,
    keepAlive: true,
    connectionTimeoutMillis: 10_000,
  });
  // A connection lost while idle (Postgres restarted) is replaced on the next checkout; its 'error' must not kill the worker.
  passPool.on('error', () => {});
  passPool.on('connect', (c) => c.on('error', () => {}));
  let listener: pg.Client | undefined;
  let stopped = false;
  let wanted = false;
  let active = 0;
  let passes = 0;
  const inFlight = new Set<Promise<void>>();
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

  const listen = async () => {
    reconnectTimer = undefined;
    if (stopped) return;
    const c = new pg.Client({
      connectionString: config.databaseUrl,
      application_name: `${name} listen`,
      keepAlive: true,
      connectionTimeoutMillis: 10_000,
    });
    let gone = false;
    const lost = (why: string) => {
      if (gone) return;
      gone = true;
      if (listener === c) listener = undefined;
      c.end().catch(() => {});
      if (stopped) return;
      problem(`lost its Postgres connection (${why}); reconnecting`);
      reconnectTimer = setTimeout(() => void listen(), reconnectDelayMs);
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
    listener = c;
    reconnectDelayMs = 250;
    problem(undefined);
    wake(); // whatever committed while nobody was listening
  };

  const pass = async (): Promise<{ rows: number; failed: number }> => {
    const c = await passPool.connect();
    let broken: unknown;
    try {
      // BEGIN and the SELECT in one round trip (the simple protocol runs both):
      // every worker's relay wakes for every commit, and most of those passes find nothing.
      const [, { rows }] = (await c.query(
        `BEGIN;
         SELECT o.email_id AS id, e.send_at, e.priority_key, e.fairness_key, e.fairness_weight, (e.message_id IS NULL AND e.status IN ('queued', 'scheduled')) AS unadmitted, s.message
           FROM ${t.outbox} o
           JOIN ${t.emails} e ON e.id = o.email_id
           LEFT JOIN ${t.submissions} s ON s.email_id = o.email_id AND e.message_id IS NULL AND e.status IN ('queued', 'scheduled')
          ORDER BY o.enqueued_at
          LIMIT ${RELAY_BATCH}
          FOR UPDATE OF o SKIP LOCKED`,
      )) as unknown as [pg.QueryResult, pg.QueryResult<PendingRow>];
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
      const starts = await Promise.all(
        rows
          .filter((_, i) => startable[i])
          .map(async (row) => ({
            id: row.id,
            outcome: await startEmailWorkflow(
              temporal,
              config,
              row.id,
              row.send_at,
              Math.max(config.startTimeoutMs, START_TIMEOUT_MS),
              row,
            ),
          })),
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
      broken = err;
      await c.query('ROLLBACK').catch(() => {});
      throw err;
    } finally {
      // A connection that failed mid-pass is not handed out again.
      c.release(broken instanceof Error ? broken : undefined);
      passes++;
    }
  };

  const loop = async () => {
    while (wanted && !stopped) {
      wanted = false;
      try {
        const { rows, failed } = await pass();
        if (failed)
          await sleep(1000); // Temporal or Postgres is struggling: no tight loop
        else if (rows === RELAY_BATCH) wanted = true; // more are waiting
      } catch (err) {
        problem(`pass failed: ${messageOf(err)}`);
        await sleep(1000);
      }
    }
  };

  // Each wake-up runs a pass now if fewer than PASSES are in flight; otherwise
  // one of those runs again when it ends.
  function wake(): void {
    wanted = true;
    if (stopped || active >= PASSES) return;
    active++;
    const running: Promise<void> = loop().finally(() => {
      active--;
      inFlight.delete(running);
    });
    inFlight.add(running);
  }

  const sweep = setInterval(wake, config.worker.relaySweepMs);
  sweep.unref();
  void listen();

  return {
    get passes() {
      return passes;
    },
    async stop() {
      stopped = true;
      clearInterval(sweep);
      clearTimeout(reconnectTimer);
      await Promise.allSettled([...inFlight]);
      const c = listener;
      listener = undefined;
      await c?.end().catch(() => {});
      await passPool.end();
    },
  };
}
