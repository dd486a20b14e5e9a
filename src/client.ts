// The API backend code uses. `send()` validates, writes the email to Postgres
// (one transaction, before anything else), then starts its workflow. If the
// start fails after the commit, the email is still safe: it stays `queued`
// and the reconciler finds it.
import { type Client, type Connection, WorkflowNotFoundError } from '@temporalio/client';
import type pg from 'pg';
import { type Config, loadConfig } from './config.ts';
import { migrate } from './db/migrate.ts';
import { createPool } from './db/pool.ts';
import { type EmailRecord, type EmailStatus, FINAL_STATUSES, insertEmail, isEmailId, loadEmail } from './email/store.ts';
import { payloadHash, validateIdempotencyKey, validateSendAt, validateSendInput, ValidationError } from './email/validation.ts';
import { startEmailWorkflow } from './email/start.ts';
import { connectClient } from './temporal-connection.ts';
import { type OpsContext, webUiLink } from './operations.ts';
import type { Resolution, SendEmailState, sendEmail } from './workflows/send-email.ts';

export { ValidationError } from './email/validation.ts';
export { IdempotencyConflictError } from './email/store.ts';
export type { EmailRecord, EmailStatus } from './email/store.ts';

export class EmailNotFoundError extends Error {
  override readonly name = 'EmailNotFoundError';
  readonly code = 'NOT_FOUND';
  readonly field = 'id';
  constructor(readonly id: string) {
    super(`id: no email ${id}`);
  }
}

export interface SendOptions {
  /** The same key always returns the same email; another payload under it is refused. */
  idempotencyKey?: string;
  /** Deliver at (not before) this time: a Date or an ISO-8601 string with a time zone. */
  sendAt?: Date | string;
}

export interface SendResult {
  id: string;
  workflowId: string;
  /** False when the idempotency key returned an email submitted earlier. */
  created: boolean;
  /** False when Temporal could not be reached: the email is stored and the reconciler will start it. */
  workflowStarted: boolean;
}

export interface EmailStatusView {
  id: string;
  status: EmailStatus;
  attempts: number;
  lastError: string | null;
  sentAt: string | null;
  messageId: string;
  createdOn: string;
  sendAt: string | null;
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
  config?: Config;
  /** Reuse connections the caller owns (they are not closed by `close()`). */
  pool?: pg.Pool;
  temporal?: Client;
}

// A cancel waits for the workflow at most this long (setTimeout's own ceiling is ~24.8 days).
const MAX_CANCEL_WAIT_MS = 10 * 60_000;

/** send()'s options: an object with known keys only, so a misspelt `sendat` is not silently ignored. */
function sendOptions(options: unknown): SendOptions {
  if (options === undefined || options === null) return {};
  if (typeof options !== 'object' || Array.isArray(options)) throw new ValidationError('options', 'expected an object with idempotencyKey and/or sendAt');
  const unknown = Object.keys(options).find((k) => k !== 'idempotencyKey' && k !== 'sendAt');
  if (unknown) throw new ValidationError(`options.${unknown.slice(0, 50)}`, 'unknown option (known: idempotencyKey, sendAt)');
  return options as SendOptions;
}

export class Mailer implements OpsContext {
  private constructor(
    readonly config: Config,
    readonly pool: pg.Pool,
    readonly temporal: Client,
    private readonly owned: { pool: boolean; connection: Connection | undefined },
  ) {}

  /** Connects to Postgres (applying pending migrations) and to Temporal. */
  static async connect(options: MailerOptions = {}): Promise<Mailer> {
    const config = options.config ?? loadConfig();
    const pool = options.pool ?? createPool(config.databaseUrl);
    let connection: Connection | undefined;
    try {
      await migrate(pool);
      let temporal = options.temporal;
      if (!temporal) {
        const connected = await connectClient(config);
        connection = connected.connection;
        temporal = connected.client;
      }
      return new Mailer(config, pool, temporal, { pool: !options.pool, connection });
    } catch (err) {
      if (!options.pool) await pool.end();
      await connection?.close();
      throw err;
    }
  }

  async send(input: unknown, options: SendOptions = {}): Promise<SendResult> {
    // Everything is checked before anything is written.
    const email = validateSendInput(input);
    const given = sendOptions(options);
    const sendAt = validateSendAt(given.sendAt);
    const idempotencyKey = validateIdempotencyKey(given.idempotencyKey);
    const stored = await insertEmail(this.pool, email, {
      payloadHash: payloadHash(email, sendAt),
      ...(idempotencyKey ? { idempotencyKey } : {}),
      ...(sendAt ? { sendAt } : {}),
      ...(this.config.messageIdDomain ? { messageIdDomain: this.config.messageIdDomain } : {}),
    });
    const workflowStarted = await this.startWorkflow(stored.id, sendAt);
    return { ...stored, workflowStarted };
  }

  /** Starts (or joins) the email's workflow; false when Temporal did not answer. */
  startWorkflow(emailId: string, sendAt?: Date | null): Promise<boolean> {
    return startEmailWorkflow(this.temporal, this.config, emailId, sendAt);
  }

  async get(id: string): Promise<EmailRecord | undefined> {
    if (!isEmailId(id)) throw new ValidationError('id', 'is not an email id (a UUID)');
    return loadEmail(this.pool, id);
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
      if (description.status.name === 'RUNNING') workflow.state = await handle.query<SendEmailState>('state');
    } catch (err) {
      if (!(err instanceof WorkflowNotFoundError)) throw err;
    }
    return {
      id: email.id, status: email.status, attempts: email.attempts, lastError: email.lastError,
      sentAt: email.sentAt?.toISOString() ?? null, messageId: email.messageId, createdOn: email.createdOn.toISOString(),
      sendAt: email.sendAt?.toISOString() ?? null, workflowId: email.workflowId, link: webUiLink(this.config, email.workflowId), workflow,
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
    if (FINAL_STATUSES.includes(email.status)) return { id, status: email.status };
    const handle = this.temporal.workflow.getHandle<typeof sendEmail>(email.workflowId);
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
      // No workflow to ask: the record alone decides, guarded by the sent flag.
      await this.pool.query(
        `UPDATE emails SET status = 'cancelled', updated_at = clock_timestamp()
          WHERE id = $1 AND NOT email_has_been_sent AND status IN ('queued', 'scheduled')`,
        [id],
      );
    }
    const after = await loadEmail(this.pool, id);
    return { id, status: after!.status };
  }

  /**
   * Decides a held email (policy `hold`): `sent` when the recipient got the
   * message from the attempt that died, `resend` to deliver it again (same Message-ID).
   */
  async resolve(id: string, decision: Resolution): Promise<{ id: string; decision: Resolution }> {
    if (decision !== 'sent' && decision !== 'resend') throw new ValidationError('decision', "must be 'sent' or 'resend'");
    const email = await this.get(id);
    if (!email) throw new EmailNotFoundError(id);
    const handle = this.temporal.workflow.getHandle<typeof sendEmail>(email.workflowId);
    const state = await handle.query<SendEmailState>('state').catch(() => undefined);
    if (state?.step !== 'held') {
      throw new ValidationError('id', `email ${id} is not waiting for a decision (it is ${state ? state.status : email.status})`);
    }
    await handle.signal<[{ decision: Resolution }]>('resolve', { decision });
    return { id, decision };
  }

  async close(): Promise<void> {
    await this.owned.connection?.close();
    if (this.owned.pool) await this.pool.end();
  }
}
