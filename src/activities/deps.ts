import type { Client } from '@temporalio/client';
import type { Config } from '../config.ts';
import type { Db } from '../db/schema.ts';
import type { SmtpTransport } from '../smtp.ts';
import type { ServiceMetrics } from './metrics.ts';

/** What the worker builds once and every activity shares. */
export interface ActivityDeps {
  /** The pool and the schema's table names. */
  db: Db;
  transport: SmtpTransport;
  config: Config;
  /** The service's counters and histograms, on the worker's meter. */
  metrics: ServiceMetrics;
  /** For the activities that start workflows (reconcile); the worker always provides it. */
  temporal?: Client;
}
