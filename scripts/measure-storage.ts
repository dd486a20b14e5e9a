// Bytes per email in Postgres, before and after the retention purge, for a
// typical transactional email with and without an attachment. Every row is
// written and purged by the service's own code (insertEmail, recordSent,
// purgeExpired), and sizes are pg_total_relation_size of the three email
// tables (heap, TOAST and indexes).
//   npx tsx scripts/measure-storage.ts [--emails 1000] [--attachment-kb 200]
// Uses DATABASE_URL when set (it creates and drops two databases there),
// otherwise a throw-away local Postgres.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { LocalPostgres } from '../dev/stack/postgres.ts';
import { pickPort } from '../dev/stack/ports.ts';
import { migrate } from '../src/db/migrate.ts';
import { createPool } from '../src/db/pool.ts';
import { dbFor, type Db } from '../src/db/schema.ts';
import { purgeExpired } from '../src/email/retention.ts';
import { insertEmail } from '../src/email/store.ts';
import { recordSent } from '../src/email/transitions.ts';
import { payloadHash, validateSendInput } from '../src/email/validation.ts';
import { mapLimit } from '../src/concurrency.ts';

const { values } = parseArgs({
  options: { emails: { type: 'string', default: '1000' }, 'attachment-kb': { type: 'string', default: '200' } },
});
const N = Number(values.emails);
const attachmentBytes = Number(values['attachment-kb']) * 1024;

// A typical receipt: a 1.2 KB text part and a 12 KB HTML template (markup repeats, so TOAST compresses it).
const rows = Array.from(
  { length: 12 },
  (_, i) =>
    `<tr><td style="padding:8px;border-bottom:1px solid #eee">Item ${i + 1}: monthly subscription</td><td style="text-align:right">€ ${(i * 7.3).toFixed(2)}</td></tr>`,
).join('');
const html = `<!doctype html><html><body style="font-family:Helvetica,Arial,sans-serif;color:#222"><table width="600" align="center">${rows.repeat(4)}</table><p>Thank you for your order. Questions? Reply to this email.</p></body></html>`;
const text = 'Thank you for your order.\n'.repeat(48);

function email(i: number, withAttachment: boolean) {
  return validateSendInput({
    from: 'Acme Billing <billing@acme.example>',
    to: `Customer ${i} <customer-${i}@example.com>`,
    subject: `Your receipt #${100000 + i}`,
    text,
    html,
    headers: { 'X-Entity-Ref-ID': `order-${i}` },
    // A PDF is mostly compressed streams: random bytes stand in for it (TOAST cannot shrink either).
    ...(withAttachment
      ? {
          attachments: [
            { filename: `receipt-${i}.pdf`, content: randomBytes(attachmentBytes), contentType: 'application/pdf' },
          ],
        }
      : {}),
  });
}

async function size(db: Db): Promise<number> {
  const { rows: r } = await db.pool.query<{ bytes: string }>(
    `SELECT sum(pg_total_relation_size(c.oid))::text AS bytes FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = 'mailer' AND c.relkind = 'r' AND c.relname IN ('emails', 'email_recipients', 'email_attachments')`,
  );
  return Number(r[0]!.bytes);
}

async function submitSent(db: Db, from: number, withAttachment: boolean): Promise<void> {
  await mapLimit(
    Array.from({ length: N }, (_, i) => from + i),
    8,
    async (i) => {
      const e = email(i, withAttachment);
      const { id } = await insertEmail(db, e, { payloadHash: payloadHash(e), idempotencyKey: `order-${i}` });
      await recordSent(
        db,
        id,
        `250 2.0.0 Ok: queued as ${id.slice(0, 10)}`,
        20_000 + (withAttachment ? Math.round(attachmentBytes * 1.37) : 0),
      );
    },
  );
}

async function purgeAll(db: Db): Promise<number> {
  // Final for 31 days, as far as the purge can tell.
  await db.pool.query(
    `UPDATE ${db.t.emails} SET created_on = created_on - interval '31 days', updated_at = updated_at - interval '31 days'`,
  );
  await db.pool.query(`UPDATE ${db.t.recipients} SET created_on = created_on - interval '31 days'`);
  const r = await purgeExpired(db, {
    contentAfterMs: 30 * 86_400_000,
    recordAfterMs: undefined,
    batchSize: 500,
    configWindowMinutes: 0,
  });
  return r.contentPurged;
}

async function measure(adminUrl: string, withAttachment: boolean) {
  const name = `mailer_storage_${withAttachment ? 'attach' : 'plain'}_${process.pid}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  const pool = createPool(adminUrl.replace(/\/[^/?]+(\?|$)/, `/${name}$1`), 9);
  try {
    await migrate(pool, 'mailer');
    const db = dbFor(pool, 'mailer');
    const vacuum = (full: boolean) =>
      pool.query(
        `VACUUM ${full ? 'FULL ' : ''}ANALYZE mailer.emails, mailer.email_recipients, mailer.email_attachments`,
      );
    await vacuum(true);
    const empty = await size(db);
    await submitSent(db, 0, withAttachment);
    const full = await size(db);
    if ((await purgeAll(db)) !== N) throw new Error('the purge did not purge every email');
    await vacuum(false);
    const afterPurge = await size(db);
    // Fresh emails after a purge and a plain VACUUM (what autovacuum does): they reuse the freed space.
    await submitSent(db, N, withAttachment);
    const afterRefill = await size(db);
    if ((await purgeAll(db)) !== N) throw new Error('the purge did not purge every email');
    await vacuum(true);
    const compact = await size(db);
    return {
      kind: withAttachment ? `with a ${attachmentBytes / 1024} KiB attachment` : 'no attachment',
      perEmail: (full - empty) / N,
      perPurged: (compact - empty) / (2 * N),
      onDisk: { full: full - empty, afterPurge: afterPurge - empty, afterRefill: afterRefill - empty },
    };
  } finally {
    await pool.end();
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.end();
  }
}

const dir = process.env.DATABASE_URL ? undefined : await mkdtemp(path.join(os.tmpdir(), 'mailer-storage-'));
const local = dir
  ? await LocalPostgres.start({
      dataDir: path.join(dir, 'pg'),
      logFile: path.join(dir, 'pg.log'),
      port: await pickPort(undefined),
      database: 'mailer',
      log: () => {},
    })
  : undefined;
try {
  const url = process.env.DATABASE_URL ?? local!.url;
  const probe = new pg.Client({ connectionString: url });
  await probe.connect();
  const version = (await probe.query<{ server_version: string }>('SHOW server_version')).rows[0]!.server_version;
  await probe.end();
  console.log(
    `${N} emails of each kind, PostgreSQL ${version}, ${os.cpus().length} cores, load ${os.loadavg()[0]!.toFixed(1)}`,
  );
  const kib = (b: number) => `${(b / 1024).toFixed(1)} KiB`;
  for (const withAttachment of [false, true]) {
    const m = await measure(url, withAttachment);
    console.log(`${m.kind}:`);
    console.log(
      `  kept in full          ${kib(m.perEmail)} per email   (${((m.perEmail * 1e6) / 2 ** 30).toFixed(1)} GiB per million)`,
    );
    console.log(
      `  after the purge       ${kib(m.perPurged)} per email   (${((m.perPurged * 1e6) / 2 ** 30).toFixed(2)} GiB per million, after VACUUM FULL)`,
    );
    const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;
    console.log(
      `  on disk: ${N} emails ${mib(m.onDisk.full)}; purged + VACUUM ${mib(m.onDisk.afterPurge)}; then ${N} more ${mib(m.onDisk.afterRefill)} (${mib(2 * m.onDisk.full)} without the purge)`,
    );
  }
} finally {
  await local?.destroy();
  if (dir) await rm(dir, { recursive: true, force: true });
}
