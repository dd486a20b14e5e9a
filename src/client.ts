// The API backend code uses. `send()` validates, writes the email to Postgres
// (before anything else), then starts its workflow within a deadline. If the
// start fails after the commit, the email is still safe: it stays `queued`
// and the reconciler finds it. With `{ db: client }` it writes the email in the
// caller's own transaction instead and starts nothing: the relay in the
// workers starts it once that transaction commits.
//
// This module is the package's light entry: it loads @temporalio/client, pg
// and the validator, never the worker, webpack or the native core.
import { type Client, type Connection, WorkflowNotFoundError } from '@temporalio/client';
import type pg from 'pg';
import { type ClientConfig, loadClientConfig } from './config.ts';
import { resolveSignal, stateQuery, type Resolution, type SendEmailState } from './contract.ts';
import { checkMigrated, migrate } from './db/migrate.ts';
import { type Db, dbFor, type Queryable } from './db/schema.ts';
import { EmailNotFoundError, OperationError, ValidationError } from './errors.ts';
import { insertEmails, type EnqueueItem } from './email/enqueue.ts';
import type { EmailInput } from './email/input.ts';
import type * as Validation from './email/validation.ts';
import { type EmailPriority, validatePriority } from './email/priority.ts';
import { suppressionsApi } from './email/suppressions.ts';
import { startEmailWorkflow, type StartFailure } from './email/start.ts';
import { type EmailStatus, isFinal } from './email/status.ts';
import { type EmailRecord, insertEmail, isEmailId, loadEmail } from './email/store.ts';
import { cancelUnstarted } from './email/transitions.ts';
import {
  type EmailEventRecord,
  eventChannel,
  listEvents,
  type ListEventsOptions,
  WEBHOOK_STATES,
} from './events/store.ts';
import { mapLimit } from './concurrency.ts';
import { webUiLink } from './operations.ts';
import { connectClient } from './temporal-connection.ts';

export interface SendOptions {
  /** The same key always returns the same email; another payload under it is refused. */
  idempotencyKey?: string;
  /** Deliver at (not before) this time: a Date or an ISO-8601 string with a time zone. */
  sendAt?: Date | string;
  /** `high` overtakes a backlog of `normal` and `low` mail in front of EMAIL_RATE_LIMIT (default `normal`). */
  priority?: EmailPriority;
  /** Shares deliveries between keys within a priority, e.g. a tenant id (at most 64 bytes, not an address). */
  fairnessKey?: string;
  /** This key's share against other keys (default 1, from 0.001 to 1000); give a key the same weight every time. */
  fairnessWeight?: number;
  /**
   * A pg client the caller holds inside `BEGIN … COMMIT`: the email is written
   * in that transaction and nothing is started, so it exists if and only if the
   * transaction commits. The relay in the workers starts its workflow right
   * after the COMMIT; a ROLLBACK leaves no trace. If this throws, roll back.
   */
  db?: Queryable;
}

/** One email of `sendMany()`. */
export interface SendManyItem {
  email: EmailInput;
  idempotencyKey?: string;
  sendAt?: Date | string;
  priority?: EmailPriority;
  fairnessKey?: string;
  fairnessWeight?: number;
}

/** Emails per `sendMany()` call: one statement carries them all. */
export const SEND_MANY_MAX = 1000;

export interface SendResult {
  id: string;
  workflowId: string;
  /** False when the idempotency key returned an email submitted earlier. */
  created: boolean;
  /**
   * False when Temporal did not accept the start within the deadline: the email
   * is stored and will be started later (by the reconciler); `startError` says why.
   * Always false with `db` (the caller's transaction): the relay starts it after the commit.
   */
  workflowStarted: boolean;
  startError?: { code: StartFailure; reason: string };
}

export interface EmailStatusView {
  id: string;
  status: EmailStatus;
  attempts: number;
  lastError: string | null;
  sentAt: string | null;
  /** Null while a message submitted through SQL awaits validation, and when it was rejected. */
  messageId: string | null;
  /** Why the validator refused it (status `rejected`). */
  rejection: { field: string; reason: string } | null;
  createdOn: string;
  sendAt: string | null;
  /** When its content (bodies, attachments, addresses) was purged; null while it is kept. */
  purgedAt: string | null;
  workflowId: string;
  /** The email in the Temporal Web UI. */
  link: string;
  workflow: {
    status: string;
    /** The running workflow's own view (step, delivery attempt, last error, next attempt). */
    state?: SendEmailState;
    /** An activity attempt in flight right now, as Temporal sees it. */
    pendingActivity?: { type: string; attempt: number; lastFailure: string | null; nextAttemptAt: string | null };
  } | null;
}

export interface MailerOptions {
  /** Every setting at once; otherwise they are read from `env` (default `process.env`), and the options below win. */
  config?: ClientConfig;
  env?: Record<string, string | undefined>;
  /** Reuse connections the caller owns (they are not closed by `close()`); then no database URL is needed. */
  pool?: pg.Pool;
  temporal?: Client;
  databaseUrl?: string;
  /** The Postgres schema of the service's tables (default `mailer`). */
  schema?: string;
  /** Apply pending migrations on connect (default true). False: only check that the database is migrated. */
  migrate?: boolean;
  /** How long `send()` waits for Temporal to accept a start (default 5 s). */
  startTimeoutMs?: number;
  taskQueue?: string;
}

// The validator (zod and the address parser) is the heaviest part of the
// client: it loads while connect() waits for Postgres and Temporal, not when
// the app imports the package.
let validator: Promise<typeof Validation> | undefined;
const loadValidator = () => (validator ??= import('./email/validation.ts'));

function settings(options: MailerOptions): ClientConfig {
  const base =
    options.config ??
    loadClientConfig(options.env ?? process.env, { requireDatabaseUrl: !options.pool && !options.databaseUrl });
  return {
    ...base,
    ...(options.databaseUrl !== undefined ? { databaseUrl: options.databaseUrl } : {}),
    database: {
      schema: options.schema ?? base.database.schema,
      migrate: options.migrate ?? base.database.migrate,
    },
    ...(options.startTimeoutMs !== undefined ? { startTimeoutMs: options.startTimeoutMs } : {}),
    temporal: { ...base.temporal, ...(options.taskQueue !== undefined ? { taskQueue: options.taskQueue } : {}) },
  };
}

// A cancel waits for the workflow at most this long (setTimeout's own ceiling is ~24.8 days).
const MAX_CANCEL_WAIT_MS = 10 * 60_000;

const SEND_OPTIONS = ['idempotencyKey', 'sendAt', 'priority', 'fairnessKey', 'fairnessWeight', 'db'];

/** send()'s options: an object with known keys only, so a misspelt `sendat` is not silently ignored. */
function sendOptions(options: unknown): SendOptions {
  if (options === undefined || options === null) return {};
  if (typeof options !== 'object' || Array.isArray(options))
    throw new ValidationError('options', `expected an object with some of ${SEND_OPTIONS.join(', ')}`);
  const unknown = Object.keys(options).find((k) => !SEND_OPTIONS.includes(k));
  if (unknown)
    throw new ValidationError(`options.${unknown.slice(0, 50)}`, `unknown option (known: ${SEND_OPTIONS.join(', ')})`);
  return options as SendOptions;
}

/** Runs a validator, naming its fields under `prefix` (`items[3].email` + `to`). */
function within<T>(prefix: string, validate: () => T): T {
  try {
    return validate();
  } catch (err) {
    if (!(err instanceof ValidationError)) throw err;
    const at = (field: string) => (field === 'input' ? prefix : `${prefix}.${field}`);
    throw new ValidationError(
      at(err.field),
      err.reason,
      err.issues.map((x) => ({ field: at(x.field), reason: x.reason })),
    );
  }
}

export class Mailer {
  readonly db: Db;
  /** Addresses never sent to again: later emails to them end `blocked` (rule `suppressed`) without touching SMTP. */
  readonly suppressions: ReturnType<typeof suppressionsApi>;

  private constructor(
    readonly config: ClientConfig,
    readonly pool: pg.Pool,
    readonly temporal: Client,
    private readonly owned: { pool: boolean; connection: Connection | undefined },
  ) {
    this.db = dbFor(pool, config.database.schema);
    this.suppressions = suppressionsApi(this.db);
  }

  /** Connects to Postgres (applying pending migrations unless told not to) and to Temporal. */
  static async connect(options: MailerOptions = {}): Promise<Mailer> {
    const config = settings(options);
    // pg loads only when the client makes its own pool (an app that passes one has loaded it already).
    const pool = options.pool ?? (await import('./db/pool.ts')).createPool(config.databaseUrl);
    let connection: Connection | undefined;
    const validatorLoaded = loadValidator();
    validatorLoaded.catch(() => {}); // awaited below; a failed connect must not leave it unhandled
    try {
      if (config.database.migrate) await migrate(pool, config.database.schema);
      else await checkMigrated(pool, config.database.schema);
      let temporal = options.temporal;
      if (!temporal) {
        const connected = await connectClient(config);
        connection = connected.connection;
        temporal = connected.client;
      }
      await validatorLoaded;
      return new Mailer(config, pool, temporal, { pool: !options.pool, connection });
    } catch (err) {
      if (!options.pool) await pool.end();
      await connection?.close();
      throw err;
    }
  }

  async send(input: EmailInput, options: SendOptions = {}): Promise<SendResult> {
    // Everything is checked before anything is written.
    const { payloadHash, validateIdempotencyKey, validateSendAt, validateSendInput } = await loadValidator();
    const email = validateSendInput(input);
    const given = sendOptions(options);
    const sendAt = validateSendAt(given.sendAt);
    const idempotencyKey = validateIdempotencyKey(given.idempotencyKey);
    const priority = validatePriority(given);
    if (options.db) {
      const item: EnqueueItem = { email, payloadHash: payloadHash(email, sendAt), idempotencyKey, sendAt, priority };
      const [stored] = await insertEmails(options.db, this.db.t, [item], {
        outbox: true,
        messageIdDomain: this.config.messageIdDomain,
      });
      return { ...stored!, workflowStarted: false };
    }
    const stored = await insertEmail(this.db, email, {
      payloadHash: payloadHash(email, sendAt),
      priority,
      ...(idempotencyKey ? { idempotencyKey } : {}),
      ...(sendAt ? { sendAt } : {}),
      ...(this.config.messageIdDomain ? { messageIdDomain: this.config.messageIdDomain } : {}),
    });
    const outcome = await startEmailWorkflow(this.temporal, this.config, stored.id, sendAt, undefined, priority);
    return outcome.started
      ? { ...stored, workflowStarted: true }
      : { ...stored, workflowStarted: false, startError: { code: outcome.code, reason: outcome.reason } };
  }

  /**
   * Many emails in one statement (up to SEND_MANY_MAX). Every item is validated
   * first (a ValidationError names it: `items[3].to`). With `db` they are
   * written in the caller's transaction and the relay starts them after its
   * commit; without, they are written in one transaction of ours, then started.
   */
  async sendMany(items: readonly SendManyItem[], options: { db?: Queryable } = {}): Promise<SendResult[]> {
    const { payloadHash, validateIdempotencyKey, validateSendAt, validateSendInput } = await loadValidator();
    if (!Array.isArray(items)) throw new ValidationError('items', 'expected an array');
    if (items.length > SEND_MANY_MAX)
      throw new ValidationError('items', `has more than ${SEND_MANY_MAX} emails (send them in several calls)`);
    const prepared = items.map((item, i): EnqueueItem => {
      const email = within(`items[${i}].email`, () => validateSendInput(item?.email));
      const sendAt = within(`items[${i}]`, () => validateSendAt(item.sendAt));
      const idempotencyKey = within(`items[${i}]`, () => validateIdempotencyKey(item.idempotencyKey));
      const priority = within(`items[${i}]`, () => validatePriority(item));
      return { email, payloadHash: payloadHash(email, sendAt), idempotencyKey, sendAt, priority };
    });
    const enqueue = { outbox: options.db !== undefined, messageIdDomain: this.config.messageIdDomain };
    if (options.db)
      return (await insertEmails(options.db, this.db.t, prepared, enqueue)).map((r) => ({
        ...r,
        workflowStarted: false,
      }));
    // All or none: an idempotency conflict must not leave the others stored and unstarted.
    const client = await this.pool.connect();
    let stored;
    try {
      await client.query('BEGIN');
      stored = await insertEmails(client, this.db.t, prepared, enqueue);
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {});
      throw err;
    } finally {
      client.release();
    }
    return mapLimit(
      stored.map((r, i) => ({ ...r, sendAt: prepared[i]!.sendAt, priority: prepared[i]!.priority })),
      8,
      async ({ sendAt, priority, ...r }): Promise<SendResult> => {
        const outcome = await startEmailWorkflow(this.temporal, this.config, r.id, sendAt, undefined, priority);
        return outcome.started
          ? { ...r, workflowStarted: true }
          : { ...r, workflowStarted: false, startError: { code: outcome.code, reason: outcome.reason } };
      },
    );
  }

  async get(id: string): Promise<EmailRecord | undefined> {
    if (!isEmailId(id)) throw new ValidationError('id', 'is not an email id (a UUID)');
    return loadEmail(this.db, id);
  }

  /** The record combined with the workflow's own view (current step, pending delivery attempt). */
  async status(id: string): Promise<EmailStatusView> {
    const email = await this.get(id);
    if (!email) throw new EmailNotFoundError(id);
    let workflow: EmailStatusView['workflow'] = null;
    try {
      const handle = this.temporal.workflow.getHandle(email.workflowId);
      const description = await handle.describe();
      workflow = { status: description.status.name };
      const pending = description.raw.pendingActivities?.[0];
      if (pending) {
        const next = pending.nextAttemptScheduleTime?.seconds;
        workflow.pendingActivity = {
          type: pending.activityType?.name ?? 'unknown',
          attempt: pending.attempt ?? 1,
          lastFailure: pending.lastFailure?.message ?? null,
          nextAttemptAt: next ? new Date(Number(next) * 1000).toISOString() : null,
        };
      }
      if (description.status.name === 'RUNNING') workflow.state = await handle.query(stateQuery);
    } catch (err) {
      if (!(err instanceof WorkflowNotFoundError)) throw err;
    }
    return {
      id: email.id,
      status: email.status,
      attempts: email.attempts,
      lastError: email.lastError,
      sentAt: email.sentAt?.toISOString() ?? null,
      messageId: email.messageId,
      createdOn: email.createdOn.toISOString(),
      sendAt: email.sendAt?.toISOString() ?? null,
      purgedAt: email.purgedAt?.toISOString() ?? null,
      rejection: email.rejection,
      workflowId: email.workflowId,
      link: webUiLink(this.config, email.workflowId),
      workflow,
    };
  }

  /**
   * Cancels an email that has not been sent. Waits (up to `timeoutMs`) for the
   * workflow to acknowledge, because a delivery in flight may still complete;
   * the returned status is the truth from Postgres.
   */
  async cancel(id: string, { timeoutMs = 30_000 } = {}): Promise<{ id: string; status: EmailStatus }> {
    if (typeof timeoutMs !== 'number' || !(timeoutMs >= 0 && timeoutMs <= MAX_CANCEL_WAIT_MS)) {
      throw new ValidationError('timeoutMs', `must be a number of milliseconds from 0 to ${MAX_CANCEL_WAIT_MS}`);
    }
    const email = await this.get(id);
    if (!email) throw new EmailNotFoundError(id);
    if (isFinal(email.status)) return { id, status: email.status };
    const handle = this.temporal.workflow.getHandle(email.workflowId);
    let running = false;
    try {
      running = (await handle.describe()).status.name === 'RUNNING';
    } catch (err) {
      if (!(err instanceof WorkflowNotFoundError)) throw err;
    }
    if (running) {
      await handle.cancel();
      // The wait is a long poll: abort it at the deadline rather than leave it
      // running, or it outlives close() and fails later on a shut-down channel.
      const deadline = new AbortController();
      const timer = setTimeout(() => deadline.abort(), timeoutMs);
      try {
        await this.temporal.withAbortSignal(deadline.signal, () => handle.result()).catch(() => undefined);
      } finally {
        clearTimeout(timer);
      }
    } else {
      await cancelUnstarted(this.db, id);
    }
    const after = await loadEmail(this.db, id);
    return { id, status: after!.status };
  }

  /**
   * Decides a held email (policy `hold`): `sent` when the recipient got the
   * message from the attempt that died, `resend` to deliver it again (same Message-ID).
   */
  async resolve(id: string, decision: Resolution): Promise<{ id: string; decision: Resolution }> {
    if (decision !== 'sent' && decision !== 'resend')
      throw new ValidationError('decision', "must be 'sent' or 'resend'");
    const email = await this.get(id);
    if (!email) throw new EmailNotFoundError(id);
    const handle = this.temporal.workflow.getHandle(email.workflowId);
    const state = await handle.query(stateQuery).catch(() => undefined);
    if (state?.step !== 'held') {
      throw new OperationError(
        'NOT_HELD',
        `id: email ${id} is not waiting for a decision (it is ${state ? state.status : email.status})`,
        'id',
      );
    }
    await handle.signal(resolveSignal, { decision });
    return { id, decision };
  }

  /**
   * Events (sent, failed, blocked, cancelled, rejected, held, retrying), oldest
   * first: an email's, those after a cursor, or the latest. Each says how its
   * webhook delivery went. To be told as they happen, LISTEN on `eventChannel`.
   */
  async events(options: ListEventsOptions = {}): Promise<EmailEventRecord[]> {
    if (options.emailId !== undefined && !isEmailId(options.emailId))
      throw new ValidationError('emailId', 'is not an email id (a UUID)');
    if (options.after !== undefined && !/^\d{1,19}$/.test(options.after))
      throw new ValidationError('after', 'is not an event id');
    if (options.webhook !== undefined && !WEBHOOK_STATES.includes(options.webhook))
      throw new ValidationError('webhook', `must be one of ${WEBHOOK_STATES.join(', ')}`);
    if (
      options.limit !== undefined &&
      !(Number.isInteger(options.limit) && options.limit >= 1 && options.limit <= 10_000)
    )
      throw new ValidationError('limit', 'must be a whole number from 1 to 10000');
    return listEvents(this.db, options);
  }

  /** The NOTIFY channel of this installation's events (payload `{"id","emailId","type"}`). */
  get eventChannel(): string {
    return eventChannel(this.config.database.schema);
  }

  async close(): Promise<void> {
    await this.owned.connection?.close();
    if (this.owned.pool) await this.pool.end();
  }
}
