import type { Client } from '@temporalio/client';
import type pg from 'pg';
import type { Config } from '../config.ts';
import type { SmtpTransport } from '../smtp.ts';

/** What the worker builds once and every activity shares. */
export interface ActivityDeps {
  pool: pg.Pool;
  transport: SmtpTransport;
  config: Config;
  /** For the activities that start workflows (reconcile); the worker always provides it. */
  temporal?: Client;
  /** Injected so tests can pin time; production uses the wall clock. */
  clock?: () => Date;
}
