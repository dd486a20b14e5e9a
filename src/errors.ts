// The error catalogue: every error the library throws, with a stable `code`
// (and the `field` or variable at fault where there is one), the failure types
// the activities put into workflow history, and the exit codes of `mailer`.
// Callers branch on `code` (or `instanceof`), never on message text.

export type ErrorCode =
  | 'INVALID_INPUT'
  | 'IDEMPOTENCY_CONFLICT'
  | 'NOT_FOUND'
  | 'NOT_FAILED'
  | 'NOT_HELD'
  | 'PURGED'
  | 'START_FAILED'
  | 'CONFIG'
  | 'MIGRATION'
  /** Only in `mailer`'s output: a driver's error (Postgres, Temporal, the network), summarised. */
  | 'OPERATION_FAILED';

/** Base class of every error the library throws on purpose. */
export class MailerError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    /** The input field, option or environment variable at fault, when there is one. */
    readonly field?: string,
  ) {
    super(message);
  }
}

/** Bad input: refused before anything was written. */
export class ValidationError extends MailerError {
  override readonly name = 'ValidationError';
  declare readonly field: string;
  constructor(
    field: string,
    readonly reason: string,
    readonly issues: { field: string; reason: string }[] = [{ field, reason }],
  ) {
    super('INVALID_INPUT', `${field}: ${reason}`, field);
  }
}

/** The idempotency key was used before with another payload. The other email's id is not disclosed. */
export class IdempotencyConflictError extends MailerError {
  override readonly name = 'IdempotencyConflictError';
  constructor(readonly idempotencyKey: string) {
    super(
      'IDEMPOTENCY_CONFLICT',
      'idempotencyKey: this key was already used for an email with a different payload',
      'idempotencyKey',
    );
  }
}

export class EmailNotFoundError extends MailerError {
  override readonly name = 'EmailNotFoundError';
  constructor(readonly id: string) {
    super('NOT_FOUND', `id: no email ${id}`, 'id');
  }
}

/** An operator action that does not apply to the email as it is (not failed, not held…), or could not be carried out. */
export class OperationError extends MailerError {
  override readonly name = 'OperationError';
  constructor(
    code: 'NOT_FOUND' | 'NOT_FAILED' | 'NOT_HELD' | 'PURGED' | 'START_FAILED',
    message: string,
    field?: string,
  ) {
    super(code, message, field);
  }
}

/** A setting is missing, malformed or out of bounds; `variable` names it. */
export class ConfigError extends MailerError {
  override readonly name = 'ConfigError';
  constructor(
    readonly variable: string,
    reason: string,
  ) {
    super('CONFIG', `${variable}: ${reason}`, variable);
  }
}

/** The database is not at the code's migration (or is newer than the code). */
export class MigrationError extends MailerError {
  override readonly name = 'MigrationError';
  constructor(message: string) {
    super('MIGRATION', message);
  }
}

/** The `type` of every ApplicationFailure the activities raise: what a workflow history can show. */
export const FAILURE_TYPES = {
  emailNotFound: 'EmailNotFound',
  attachmentCorrupt: 'AttachmentCorrupt',
  emailInvalid: 'EmailInvalid',
  deliveryInProgress: 'DeliveryInProgress',
  emailFailed: 'EmailFailed',
  misconfiguredWorker: 'MisconfiguredWorker',
} as const;

/** `mailer` exit codes. */
export const EXIT = {
  ok: 0,
  /** The operation failed (Temporal or Postgres unreachable, a state that does not allow it…). */
  failed: 1,
  /** Bad input or usage: the message names the field or option. */
  usage: 2,
  /** Bad configuration: the message names the variable. */
  config: 3,
} as const;
