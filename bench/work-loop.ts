// The work floor: what an email's own work costs with no engine at all. The
// same code the pipeline runs — send()'s validation and insert, then
// blockCheck → prepare → deliver from createActivities, with the worker's pool
// and pooled SMTP transport — called in-process in a closed loop. Each
// activity runs inside the SDK's activity context (MockActivityEnvironment
// wraps it in the same Activity class the worker uses), so heartbeats,
// cancellation checks, logging and metrics cost what they cost in a worker.
import { MockActivityEnvironment } from '@temporalio/testing';
import { noopMetricMeter } from '@temporalio/common';
import { DefaultLogger } from '@temporalio/worker';
import { createActivities } from '../src/activities/index.ts';
import { createMetrics } from '../src/activities/metrics.ts';
import type { Config } from '../src/config.ts';
import { createPool } from '../src/db/pool.ts';
import { dbFor } from '../src/db/schema.ts';
import { insertEmail } from '../src/email/store.ts';
import { payloadHash, validateSendInput } from '../src/email/validation.ts';
import { createSmtpTransport } from '../src/smtp.ts';
import { emailInput } from './context.ts';

export interface WorkLoopResult {
  sent: number;
  failed: number;
  firstError: string | undefined;
  /** Date.now() when the first email was submitted. */
  startedAt: number;
  elapsedMs: number;
}

/** Runs `n` emails through the work alone, `concurrency` at a time. */
export async function runWorkLoop(
  config: Config,
  n: number,
  concurrency: number,
  tag: string,
): Promise<WorkLoopResult> {
  if (!config.smtpUrl) throw new Error('SMTP_URL: is not set');
  // Sized as startWorker sizes them.
  const pool = createPool(config.databaseUrl, config.worker.maxConcurrentDeliveries + 8);
  const transport = createSmtpTransport(config.smtpUrl, config.smtp);
  const db = dbFor(pool, config.database.schema);
  const activities = createActivities({ db, transport, config, metrics: createMetrics(noopMetricMeter) });
  const logger = new DefaultLogger('WARN');
  const inContext = <T>(activityType: string, fn: () => Promise<T>) =>
    new MockActivityEnvironment({ activityType, heartbeatTimeoutMs: config.deliver.heartbeatMs }, { logger }).run(
      fn,
    ) as Promise<T>;

  let next = 0;
  let sent = 0;
  let failed = 0;
  let firstError: string | undefined;
  const startedAt = Date.now();
  const t0 = performance.now();
  try {
    await Promise.all(
      Array.from({ length: Math.min(concurrency, n) }, async () => {
        for (let i = next++; i < n; i = next++) {
          try {
            const email = validateSendInput(emailInput(tag, i));
            const { id } = await insertEmail(db, email, {
              payloadHash: payloadHash(email),
              ...(config.messageIdDomain ? { messageIdDomain: config.messageIdDomain } : {}),
            });
            const check = await inContext('blockCheck', () => activities.blockCheck(id));
            if (check.outcome !== 'pass') throw new Error(`blockCheck: ${JSON.stringify(check)}`);
            const plan = await inContext('prepare', () => activities.prepare(id));
            if (plan.outcome !== 'ready') throw new Error(`prepare: ${JSON.stringify(plan)}`);
            const delivered = await inContext('deliver', () => activities.deliver(id, plan.policy.onUncertain));
            if (delivered.outcome !== 'sent') throw new Error(`deliver: ${JSON.stringify(delivered)}`);
            sent++;
          } catch (err) {
            failed++;
            firstError ??= err instanceof Error ? err.message : String(err);
          }
        }
      }),
    );
  } finally {
    transport.close();
    await pool.end();
  }
  return { sent, failed, firstError, startedAt, elapsedMs: performance.now() - t0 };
}
