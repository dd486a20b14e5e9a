// Append-only numbered SQL migrations (`migrations/NNNN_name.sql`), applied in
// one transaction behind an advisory lock so that several workers and clients
// starting at once apply each migration exactly once. They run with
// search_path set to the service's schema, so their names land there; the
// ledger is `<schema>.migrations`. A database that has migrations this code
// does not know is refused: old code must not write to a schema it does not
// understand.
//
// A deploy can migrate with a privileged role (`mailer migrate`) and run the
// service with a role that has row rights only (MAILER_MIGRATE=off, or
// `Mailer.connect({ migrate: false })`): then `checkMigrated` only reads the ledger.
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type pg from 'pg';
import { MigrationError } from '../errors.ts';
import { quoteIdent } from './schema.ts';

export const migrationsDir = path.resolve(import.meta.dirname, '../../migrations');

// Any constant works; it only has to be the same for every process of this service.
const LOCK_KEY = 0x6d61696c; // 'mail'

export interface Migration {
  id: number;
  name: string;
  sql: string;
}

export { MigrationError };

export async function loadMigrations(dir = migrationsDir): Promise<Migration[]> {
  const files = (await readdir(dir)).filter((f) => f.endsWith('.sql')).sort();
  const migrations: Migration[] = [];
  for (const file of files) {
    const match = /^(\d{4})_([a-z0-9_]+)\.sql$/.exec(file);
    if (!match) throw new MigrationError(`migration file name ${file} must look like 0001_name.sql`);
    const id = Number(match[1]);
    if (id !== migrations.length + 1)
      throw new MigrationError(`migration ${file} is out of sequence (expected ${migrations.length + 1})`);
    migrations.push({ id, name: match[2]!, sql: await readFile(path.join(dir, file), 'utf8') });
  }
  return migrations;
}

type Querier = Pick<pg.PoolClient, 'query'>;

/** The newest migration recorded in the schema's ledger; undefined when there is no ledger. */
async function appliedVersion(db: Querier, schema: string): Promise<number | undefined> {
  const { rows } = await db.query<{ ledger: string | null }>('SELECT to_regclass($1) AS ledger', [
    `${quoteIdent(schema)}.migrations`,
  ]);
  if (!rows[0]?.ledger) return undefined;
  const max = await db.query<{ id: number | null }>(`SELECT max(id) AS id FROM ${quoteIdent(schema)}.migrations`);
  return max.rows[0]?.id ?? 0;
}

function tooNew(version: number, known: number): MigrationError {
  return new MigrationError(
    `the database has migration ${version} but this code knows only ${known}: upgrade the code before running it against this database`,
  );
}

/**
 * For a service that must not change the schema: succeeds only when the
 * database is at exactly the code's migration; otherwise says what to run.
 */
export async function checkMigrated(pool: pg.Pool, schema: string, dir = migrationsDir): Promise<void> {
  const known = (await loadMigrations(dir)).length;
  const version = await appliedVersion(pool, schema);
  if (version === undefined) {
    throw new MigrationError(
      `schema "${schema}" is not set up (no ${schema}.migrations table): run \`mailer migrate\` (or connect once with migrate on) with a role that may create tables`,
    );
  }
  if (version > known) throw tooNew(version, known);
  if (version < known)
    throw new MigrationError(
      `schema "${schema}" is at migration ${version}, this code needs ${known}: run \`mailer migrate\` with a role that may change tables`,
    );
}

// The layout before the service had a schema of its own: tables in `public`,
// ledger `public.schema_migrations` with exactly these three migrations.
const LEGACY_MIGRATIONS = ['smoke_checks', 'emails', 'uncertain_delivery'];
const LEGACY_TABLES = ['emails', 'email_recipients', 'email_attachments', 'recipient_rules', 'recipient_limits'];

/**
 * Moves a database at the old layout into the schema, data and all (indexes,
 * constraints and sequences go with their tables). Only a ledger that is
 * exactly ours is touched: an app's own `schema_migrations` (Rails,
 * golang-migrate…) is left alone. Returns whether it moved anything.
 */
async function adoptLegacyLayout(client: Querier, schema: string): Promise<boolean> {
  const legacy = await client.query<{ ledger: string | null; emails: string | null }>(
    "SELECT to_regclass('public.schema_migrations') AS ledger, to_regclass('public.emails') AS emails",
  );
  if (!legacy.rows[0]?.ledger || !legacy.rows[0].emails) return false;
  const columns = await client.query<{ column_name: string }>(
    "SELECT column_name FROM information_schema.columns WHERE table_schema = 'public' AND table_name = 'schema_migrations'",
  );
  const names = new Set(columns.rows.map((c) => c.column_name));
  if (!names.has('id') || !names.has('name')) return false;
  const { rows } = await client.query<{ id: number; name: string }>(
    'SELECT id, name FROM public.schema_migrations ORDER BY id',
  );
  const ours = rows.every(
    (r, i) => r.id === i + 1 && (i >= LEGACY_MIGRATIONS.length || r.name === LEGACY_MIGRATIONS[i]),
  );
  if (!ours || rows.length < 2) return false;
  if (rows.length > LEGACY_MIGRATIONS.length) throw tooNew(rows.length, LEGACY_MIGRATIONS.length);
  if (rows.length < LEGACY_MIGRATIONS.length) {
    throw new MigrationError(
      `the database is at an old layout with ${rows.length} of its 3 migrations: run the previous release once to finish them, then this one`,
    );
  }
  const s = quoteIdent(schema);
  for (const table of LEGACY_TABLES) await client.query(`ALTER TABLE public.${table} SET SCHEMA ${s}`);
  // The smoke check table served only a stack health check that no longer exists.
  await client.query('DROP TABLE IF EXISTS public.smoke_checks');
  await client.query('DROP TABLE public.schema_migrations');
  return true;
}

/** Applies every pending migration; returns the ids it applied (none when up to date). */
export async function migrate(pool: pg.Pool, schema: string, dir = migrationsDir): Promise<number[]> {
  const migrations = await loadMigrations(dir);
  // Up to date (the common case on every start): read-only, so a role with row
  // rights only can start with migrations on and never attempt DDL.
  const current = await appliedVersion(pool, schema);
  if (current !== undefined && current > migrations.length) throw tooNew(current, migrations.length);
  if (current === migrations.length) return [];

  const client = await pool.connect();
  const s = quoteIdent(schema);
  try {
    await client.query('BEGIN');
    // Transaction-scoped: released on COMMIT or ROLLBACK, even if this process dies.
    await client.query('SELECT pg_advisory_xact_lock($1)', [LOCK_KEY]);
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${s}`);
    // Unqualified names in the migrations land in the schema; functions that
    // need the same path at call time say `SET search_path FROM CURRENT`.
    await client.query(`SET LOCAL search_path TO ${s}, pg_catalog`);
    await client.query(`CREATE TABLE IF NOT EXISTS ${s}.migrations (
      id integer PRIMARY KEY,
      name text NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now()
    )`);
    const done: number[] = [];
    const applied = new Set(
      (await client.query<{ id: number }>(`SELECT id FROM ${s}.migrations ORDER BY id`)).rows.map((r) => r.id),
    );
    if (!applied.size && (await adoptLegacyLayout(client, schema))) {
      await client.query(`INSERT INTO ${s}.migrations (id, name) VALUES (1, $1)`, [migrations[0]!.name]);
      applied.add(1);
    }
    const newest = Math.max(0, ...applied);
    if (newest > migrations.length) throw tooNew(newest, migrations.length);
    for (const m of migrations) {
      if (applied.has(m.id)) continue;
      await client.query(m.sql);
      await client.query(`INSERT INTO ${s}.migrations (id, name) VALUES ($1, $2)`, [m.id, m.name]);
      done.push(m.id);
    }
    await client.query('COMMIT');
    return done;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    client.release();
  }
}
