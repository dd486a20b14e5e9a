import type { Client } from '@temporalio/client';
import type { Config } from '../config.ts';
import type { Db } from '../db/schema.ts';
import type { SmtpTransport } from '../smtp.ts';

/** What the worker builds once and every activity shares. */
export interface ActivityDeps {
  /** The pool and the schema's table names. */
  db: Db;
  transport: SmtpTransport;
  config: Config;
  /** For the activities that start workflows (reconcile); the worker always provides it. */
  temporal?: Client;
}
