// `mailer purge [--dry-run]`: the retention purge by hand, with the same code
// and settings as the worker's Schedule. Postgres only: it works while
// Temporal is down.
import { type Config, formatDuration } from '../config.ts';
import { checkMigrated } from '../db/migrate.ts';
import { createPool } from '../db/pool.ts';
import { dbFor } from '../db/schema.ts';
import { purgeExpired, retentionPolicy } from '../email/retention.ts';

export async function purge(
  config: Config,
  dryRun: boolean,
): Promise<{ human: string; json: Record<string, unknown> }> {
  const { contentAfterMs, recordAfterMs } = config.retention;
  const settings = { contentRetention: formatDuration(contentAfterMs), recordRetention: formatDuration(recordAfterMs) };
  const pool = createPool(config.databaseUrl, 1);
  try {
    await checkMigrated(pool, config.database.schema);
    const result = await purgeExpired(dbFor(pool, config.database.schema), retentionPolicy(config), { dryRun });
    const seconds = `${(result.durationMs / 1000).toFixed(1)} s`;
    const human =
      contentAfterMs === undefined && recordAfterMs === undefined
        ? 'retention is off (EMAIL_CONTENT_RETENTION=off, EMAIL_RECORD_RETENTION=off): nothing is purged'
        : dryRun
          ? `due now: the content of ${result.contentPurged} email(s) final for more than ${settings.contentRetention}` +
            (recordAfterMs === undefined
              ? ''
              : `; ${result.recordsDeleted} record(s) past ${settings.recordRetention}`) +
            ' (dry run: nothing changed)'
          : `purged the content of ${result.contentPurged} email(s)` +
            (recordAfterMs === undefined ? '' : `, deleted ${result.recordsDeleted} record(s)`) +
            ` in ${result.batches} batch(es), ${seconds}`;
    return { human, json: { ...result, ...settings } };
  } finally {
    await pool.end();
  }
}
