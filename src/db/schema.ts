// Every table lives in one Postgres schema of the service's own (MAILER_SCHEMA,
// default `mailer`), beside the app's tables and never in `public`. Statements
// name their tables through `Tables`, fully qualified, so they work on any
// connection whatever its search_path: the service's pool, a pool the app
// hands over, or the app's own client inside its transaction.
import type pg from 'pg';

export interface Tables {
  /** The schema's name, quoted for SQL. */
  schema: string;
  emails: string;
  recipients: string;
  attachments: string;
  rules: string;
  limits: string;
  events: string;
  suppressions: string;
  /** Emails committed without a started workflow (enqueued in the caller's transaction), for the relay. */
  outbox: string;
  /** Messages submitted through SQL, until the validator admits or rejects them. */
  submissions: string;
  migrations: string;
  /** The channel the outbox notifies at commit (a trigger on `outbox`), unquoted as LISTEN takes it quoted. */
  outboxChannel: string;
}

/** Double-quotes an identifier; the config already allows only [a-z0-9_]. */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

const cache = new Map<string, Tables>();

export function tablesFor(schema: string): Tables {
  let t = cache.get(schema);
  if (!t) {
    const s = quoteIdent(schema);
    t = {
      schema: s,
      emails: `${s}.emails`,
      recipients: `${s}.email_recipients`,
      attachments: `${s}.email_attachments`,
      rules: `${s}.recipient_rules`,
      limits: `${s}.recipient_limits`,
      events: `${s}.email_events`,
      suppressions: `${s}.suppressions`,
      outbox: `${s}.outbox`,
      submissions: `${s}.submissions`,
      migrations: `${s}.migrations`,
      outboxChannel: `${schema}_outbox`,
    };
    cache.set(schema, t);
  }
  return t;
}

/** Anything that runs a query: a pool, or a client (the caller's, inside its transaction). */
export type Queryable = Pick<pg.Pool, 'query'> | Pick<pg.PoolClient, 'query'>;

/** The pool and the schema's table names: what every statement of the service needs. */
export interface Db {
  pool: pg.Pool;
  t: Tables;
}

export function dbFor(pool: pg.Pool, schema: string): Db {
  return { pool, t: tablesFor(schema) };
}
