// How `mailer` reports a failure: one line on stderr, one JSON object on stdout
// with --json, and an exit code that says whose move it is:
//   2  bad input: an argument or option, named in `field`
//   3  bad configuration: an environment variable, named in `field`
//   1  the operation failed: no such email, not in a state that allows it,
//      Postgres or Temporal unreachable or refusing
// A driver's own error never reaches the user as it is: it is wrapped, with its
// code, as OPERATION_FAILED. Input that would provoke one is refused as bad
// input before it gets that far.
import { EmailNotFoundError } from '../client.ts';
import { ConfigError } from '../config.ts';
import { MigrationError } from '../db/migrate.ts';
import { IdempotencyConflictError } from '../email/store.ts';
import { ValidationError } from '../email/validation.ts';
import { OperationError } from '../operations.ts';

export class UsageError extends Error {
  override readonly name = 'UsageError';
  readonly code = 'INVALID_INPUT';
  constructor(
    readonly field: string,
    readonly reason: string,
  ) {
    super(`${field}: ${reason}`);
  }
}

export const EXIT = { ok: 0, failed: 1, badInput: 2, badConfig: 3 } as const;

export interface Failure { exitCode: number; code: string; field?: string; message: string }

/** A driver's error in one line: its code and what it says, without a stack or nested causes. */
function summary(err: unknown): string {
  const e = err as { code?: unknown; message?: unknown; severity?: unknown; address?: unknown; port?: unknown; errors?: unknown[] };
  const message = typeof e?.message === 'string' ? e.message.split('\n')[0]!.trim() : '';
  if (typeof e?.severity === 'string' && typeof e.code === 'string' && /^[0-9A-Z]{5}$/.test(e.code)) return `Postgres answered ${e.code}: ${message}`;
  if (typeof e?.code === 'string' && /^E[A-Z]+$/.test(e.code)) {
    // Node's connection errors (an AggregateError when several addresses were tried) carry no message of their own.
    const first = (e.errors?.[0] ?? e) as { address?: unknown; port?: unknown };
    return `cannot connect${first.address ? ` to ${String(first.address)}${first.port ? `:${String(first.port)}` : ''}` : ''} (${e.code})`;
  }
  return message || String(err);
}

export function describeFailure(err: unknown): Failure {
  const e = err as Error & { code?: unknown; field?: string };
  if (err instanceof ValidationError || err instanceof UsageError || err instanceof IdempotencyConflictError) {
    return { exitCode: EXIT.badInput, code: err.code, field: err.field, message: err.message };
  }
  if (err instanceof ConfigError) return { exitCode: EXIT.badConfig, code: 'INVALID_CONFIG', field: err.variable, message: err.message };
  if (err instanceof EmailNotFoundError || err instanceof OperationError) return { exitCode: EXIT.failed, code: err.code, message: err.message };
  if (err instanceof MigrationError) return { exitCode: EXIT.failed, code: 'MIGRATION_FAILED', message: err.message };
  // Errors with a field and INVALID_INPUT are bad input, whichever module made them.
  if (e?.code === 'INVALID_INPUT' && typeof e.field === 'string') return { exitCode: EXIT.badInput, code: 'INVALID_INPUT', field: e.field, message: e.message };
  return { exitCode: EXIT.failed, code: 'OPERATION_FAILED', message: `operation failed: ${summary(err)}` };
}
