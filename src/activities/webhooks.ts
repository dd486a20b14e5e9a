// pumpWebhooks: POSTs pending events to WEBHOOK_URL for `runMs`, then returns
// counts (the webhookSender workflow runs it again at once). The state of
// every event — attempts, last error, when the next attempt is due — lives in
// Postgres, so a crashed worker loses nothing and the next run (on any worker)
// carries on with the same backoff. Within a run it sleeps until the next
// attempt is due, or a NOTIFY says a new event was committed (or events were
// put back in line: `mailer events redeliver`).
//
// Order per email: only the oldest pending event of each email is ever
// posted, and the next one only after it was delivered or refused. Emails are
// posted side by side (WEBHOOK_CONCURRENCY). An advisory lock admits one
// sender per schema: a timed-out run still alive on another worker must not
// post an email's events beside this one, out of order.
//
// A receiver that is down is not hammered: after three failures in a row the
// run stops starting new POSTs and waits for the next due attempt.
import { ApplicationFailure, Context, log } from '@temporalio/activity';
import { mapLimit } from '../concurrency.ts';
import type { WebhookConfig } from '../config.ts';
import { type Queryable, quoteIdent, type Tables } from '../db/schema.ts';
import { postEvent } from '../events/post.ts';
import { eventChannel, type EventRow, toEvent, webhookChannel } from '../events/store.ts';
import type { ActivityDeps } from './deps.ts';

export interface PumpResult {
  delivered: number;
  refused: number;
  failedAttempts: number;
  expired: number;
}

/** Events are retried for this long (as Stripe does), then marked `expired`. */
export const WEBHOOK_HORIZON_HOURS = 72;
const HEADS_PER_ROUND = 500;
const STOP_AFTER_FAILURES = 3;
const HEARTBEAT_MS = 5000;

type Head = EventRow & { due: boolean; wait_ms: number };

export function webhookDelayMs(
  hook: Pick<WebhookConfig, 'initialIntervalMs' | 'maximumIntervalMs'>,
  attempts: number,
  retryAfterMs = 0,
): number {
  return Math.min(Math.max(hook.initialIntervalMs * 2 ** (attempts - 1), retryAfterMs), hook.maximumIntervalMs);
}

async function record(
  db: Queryable,
  t: Tables,
  id: string,
  state: 'delivered' | 'refused' | 'pending',
  error: string | null,
  delayMs = 0,
) {
  await db.query(
    `UPDATE ${t.events} SET webhook = $2, webhook_attempts = webhook_attempts + 1, webhook_last_error = $3,
            webhook_next_at = clock_timestamp() + make_interval(secs => $4),
            webhook_done_at = CASE WHEN $2 = 'pending' THEN NULL ELSE clock_timestamp() END
      WHERE id = $1 AND webhook = 'pending'`,
    [id, state, error, delayMs / 1000],
  );
}

export function createWebhookActivities({ db, config }: ActivityDeps) {
  const { pool, t } = db;
  const hook = config.webhook;

  /** One pass: every email whose oldest pending event is due, each email's events in order. */
  async function drain(
    h: WebhookConfig,
    totals: PumpResult,
    signal: AbortSignal,
  ): Promise<{ progressed: boolean; nextDueMs: number | undefined }> {
    const { rows: heads } = await pool.query<Head>(
      `SELECT h.*, h.webhook_next_at <= clock_timestamp() AS due,
              greatest(0, extract(epoch FROM h.webhook_next_at - clock_timestamp()) * 1000)::float8 AS wait_ms
         FROM (SELECT DISTINCT ON (email_id) * FROM ${t.events} WHERE webhook = 'pending' ORDER BY email_id, id) h
        ORDER BY h.webhook_next_at, h.id LIMIT $1`,
      [HEADS_PER_ROUND],
    );
    const due = heads.filter((e) => e.due);
    const waits = heads.filter((e) => !e.due).map((e) => e.wait_ms);
    let progressed = false;
    let failuresInARow = 0;
    await mapLimit(due, h.concurrency, async (head) => {
      let event: EventRow | undefined = head;
      while (event && failuresInARow < STOP_AFTER_FAILURES && !signal.aborted) {
        const outcome = await postEvent(h, toEvent(event), signal);
        if (outcome.kind === 'retry') {
          failuresInARow++;
          totals.failedAttempts++;
          const delay = webhookDelayMs(h, event.webhook_attempts + 1, outcome.retryAfterMs);
          await record(pool, t, event.id, 'pending', outcome.error, delay);
          waits.push(delay);
          log.info('webhook attempt failed', {
            eventId: event.id,
            emailId: event.email_id,
            attempt: event.webhook_attempts + 1,
            outcome: 'retry',
          });
          return;
        }
        failuresInARow = 0;
        progressed = true;
        if (outcome.kind === 'delivered') {
          totals.delivered++;
          await record(pool, t, event.id, 'delivered', null);
        } else {
          totals.refused++;
          await record(pool, t, event.id, 'refused', outcome.error);
          log.warn('webhook refused an event', {
            eventId: event.id,
            emailId: event.email_id,
            status: outcome.status,
            outcome: 'refused',
          });
        }
        event = (
          await pool.query<EventRow>(
            `SELECT * FROM ${t.events} WHERE email_id = $1 AND webhook = 'pending' AND id > $2 AND webhook_next_at <= clock_timestamp()
            ORDER BY id LIMIT 1`,
            [event.email_id, event.id],
          )
        ).rows[0];
      }
    });
    // After progress, go round again at once (a full page may have left more behind it).
    return { progressed, nextDueMs: waits.length ? Math.min(...waits) : undefined };
  }

  return {
    async pumpWebhooks(runMs: number): Promise<PumpResult> {
      if (!hook) throw ApplicationFailure.nonRetryable('WEBHOOK_URL is not set on this worker', 'WebhookNotConfigured');
      const ctx = Context.current();
      const signal = ctx.cancellationSignal;
      const totals: PumpResult = { delivered: 0, refused: 0, failedAttempts: 0, expired: 0 };
      // Heartbeats carry cancellation and show liveness while a slow receiver holds a POST.
      const ticker = setInterval(() => ctx.heartbeat(totals), HEARTBEAT_MS);
      // A connection of its own: LISTEN and the session's advisory lock live on it.
      const client = await pool.connect();
      // Set by onNotify; each round clears it before it reads the outbox of events.
      let notified: boolean;
      let wake = () => {};
      const onNotify = () => {
        notified = true;
        wake();
      };
      let broken: Error | undefined;
      try {
        const deadline = Date.now() + runMs;
        for (;;) {
          const { rows } = await client.query<{ locked: boolean }>(
            "SELECT pg_try_advisory_lock(hashtext('durable-mailer webhooks'), hashtext($1)) AS locked",
            [t.schema],
          );
          if (rows[0]?.locked) break;
          if (Date.now() > deadline || signal.aborted)
            throw ApplicationFailure.retryable('another webhook sender holds the lock', 'WebhookSenderBusy');
          await new Promise((r) => setTimeout(r, 1000));
        }
        client.on('notification', onNotify);
        await client.query(
          `LISTEN ${quoteIdent(eventChannel(config.database.schema))}; LISTEN ${quoteIdent(webhookChannel(config.database.schema))}`,
        );
        const { rowCount } = await pool.query(
          `UPDATE ${t.events} SET webhook = 'expired', webhook_done_at = clock_timestamp()
            WHERE webhook = 'pending' AND occurred_at < clock_timestamp() - make_interval(hours => $1)`,
          [WEBHOOK_HORIZON_HOURS],
        );
        totals.expired = rowCount ?? 0;
        while (!signal.aborted && Date.now() < deadline) {
          notified = false;
          const { progressed, nextDueMs } = await drain(hook, totals, signal);
          if (progressed || notified) continue;
          const waitMs = Math.min(nextDueMs ?? Infinity, deadline - Date.now());
          if (waitMs <= 0) continue;
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, waitMs);
            wake = () => {
              clearTimeout(timer);
              resolve();
            };
            signal.addEventListener('abort', wake, { once: true });
          });
          signal.removeEventListener('abort', wake);
          wake = () => {};
        }
        return totals;
      } catch (err) {
        broken = err as Error;
        throw err;
      } finally {
        clearInterval(ticker);
        client.off('notification', onNotify);
        // A connection that failed mid-query is dropped, not handed back holding a lock or a LISTEN.
        if (!broken)
          await client.query('UNLISTEN *; SELECT pg_advisory_unlock_all()').catch((err: Error) => (broken = err));
        client.release(broken);
      }
    },
  };
}
