// How `mailer` reports a failure: one line on stderr, one JSON object on stdout
// with --json, and an exit code (src/errors.ts EXIT) that says whose move it is:
//   2  bad input: an argument or option, named in `field`
//   3  bad configuration: an environment variable, named in `field`
//   1  the operation failed: no such email, not in a state that allows it,
//      Postgres or Temporal unreachable or refusing
// A driver's own error never reaches the user as it is: it is wrapped, with its
// code, as OPERATION_FAILED. Input that would provoke one is refused as bad
// input before it gets that far.
import { ConfigError, EXIT, IdempotencyConflictError, MailerError, ValidationError } from '../errors.ts';

/** A command-line argument or option that is missing or malformed: bad input, exit 2. */
export class UsageError extends ValidationError {}

export interface Failure {
  exitCode: number;
  code: string;
  field?: string;
  message: string;
}

/** A driver's error in one line: its code and what it says, without a stack or nested causes. */
function summary(err: unknown): string {
  const e = err as {
    code?: unknown;
    message?: unknown;
    severity?: unknown;
    address?: unknown;
    port?: unknown;
    errors?: unknown[];
  };
  const message = typeof e?.message === 'string' ? e.message.split('\n')[0]!.trim() : '';
  if (typeof e?.severity === 'string' && typeof e.code === 'string' && /^[0-9A-Z]{5}$/.test(e.code))
    return `Postgres answered ${e.code}: ${message}`;
  if (typeof e?.code === 'string' && /^E[A-Z]+$/.test(e.code)) {
    // Node's connection errors (an AggregateError when several addresses were tried) carry no message of their own.
    const first = (e.errors?.[0] ?? e) as { address?: unknown; port?: unknown };
    return `cannot connect${first.address ? ` to ${String(first.address)}${first.port ? `:${String(first.port)}` : ''}` : ''} (${e.code})`;
  }
  return message || String(err);
}

export function describeFailure(err: unknown): Failure {
  if (err instanceof ValidationError || err instanceof IdempotencyConflictError) {
    return { exitCode: EXIT.usage, code: err.code, field: err.field, message: err.message };
  }
  if (err instanceof ConfigError)
    return { exitCode: EXIT.config, code: err.code, field: err.variable, message: err.message };
  if (err instanceof MailerError)
    return { exitCode: EXIT.failed, code: err.code, ...(err.field ? { field: err.field } : {}), message: err.message };
  return { exitCode: EXIT.failed, code: 'OPERATION_FAILED', message: `operation failed: ${summary(err)}` };
}
