// What is waiting to be sent, for the gauges an on-call engineer alerts on.
// The Prometheus exporter is the SDK's (in its native core): it cannot call
// back into JavaScript at scrape time, so each worker reads the backlog from
// Postgres on a timer (MAILER_BACKLOG_INTERVAL, 15 s) and sets the gauges. A
// scrape sees values at most that old (plus one query), the first scrape
// included: the worker reads once before it polls.
// `mailer_backlog_sampled_timestamp_seconds` says when the last read
// succeeded; while Postgres is unreachable the gauges keep their last values.
//
// The query reads the backlog only: the partial index emails_unsent_due holds
// unfinished emails, so its cost follows the queue, not the years of history.
import type { Db } from './db/schema.ts';
import { sqlList, UNFINISHED_STATUSES } from './email/status.ts';
import type { Backlog, ServiceMetrics } from './activities/metrics.ts';

const UNFINISHED = sqlList(UNFINISHED_STATUSES);

/** The backlog query, for EXPLAIN in tests and for readBacklog. `now()`, not clock_timestamp(): an index condition needs a stable value. */
export function backlogQuery(db: Db): string {
  return `SELECT count(*) FILTER (WHERE status = 'queued')::int AS queued,
                 count(*) FILTER (WHERE status = 'scheduled')::int AS scheduled,
                 count(*) FILTER (WHERE status = 'sending' AND held_since IS NULL AND last_error IS NULL)::int AS sending,
                 count(*) FILTER (WHERE status = 'sending' AND held_since IS NULL AND last_error IS NOT NULL)::int AS retrying,
                 count(*) FILTER (WHERE status = 'sending' AND held_since IS NOT NULL)::int AS held,
                 (SELECT coalesce(extract(epoch FROM now() - min(greatest(created_on, send_at))), 0)::float8
                    FROM ${db.t.emails} WHERE status IN ${UNFINISHED} AND greatest(created_on, send_at) <= now()) AS oldest
            FROM ${db.t.emails} WHERE status IN ${UNFINISHED}`;
}

export async function readBacklog(db: Db): Promise<Backlog> {
  const { rows } = await db.pool.query<{
    queued: number;
    scheduled: number;
    sending: number;
    retrying: number;
    held: number;
    oldest: number;
  }>(backlogQuery(db));
  const r = rows[0]!;
  return {
    waiting: { queued: r.queued, scheduled: r.scheduled, sending: r.sending, retrying: r.retrying, held: r.held },
    oldestUnsentAgeSeconds: Math.max(0, r.oldest),
  };
}

/** Reads now (`first` resolves when done, even on failure), then every `intervalMs`; `stop()` waits for a read in flight. */
export function startBacklogGauges(
  db: Db,
  metrics: ServiceMetrics,
  intervalMs: number,
  onError: (err: unknown) => void,
): { first: Promise<void>; stop(): Promise<void> } {
  let current: Promise<void> | undefined;
  const sample = () => {
    // A slow read is not stacked up behind another.
    current ??= readBacklog(db)
      .then((b) => metrics.backlog(b, new Date()), onError)
      .finally(() => {
        current = undefined;
      });
    return current;
  };
  const first = sample();
  const timer = setInterval(() => void sample(), intervalMs);
  timer.unref();
  return {
    first,
    async stop() {
      clearInterval(timer);
      await current;
    },
  };
}
