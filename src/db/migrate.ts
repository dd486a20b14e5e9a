// Append-only numbered SQL migrations (`migrations/NNNN_name.sql`), applied in
// one transaction behind an advisory lock so that several workers and clients
// starting at once apply each migration exactly once. A database that has
// migrations this code does not know is refused: old code must not write to
// a schema it does not understand.
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type pg from 'pg';

export const migrationsDir = path.resolve(import.meta.dirname, '../../migrations');

// Any constant works; it only has to be the same for every process of this service.
const LOCK_KEY = 0x6d61696c; // 'mail'

export interface Migration {
  id: number;
  name: string;
  sql: string;
}

export class MigrationError extends Error {
  override readonly name = 'MigrationError';
}

export async function loadMigrations(dir = migrationsDir): Promise<Migration[]> {
  const files = (await readdir(dir)).filter((f) => f.endsWith('.sql')).sort();
  const migrations: Migration[] = [];
  for (const file of files) {
    const match = /^(\d{4})_([a-z0-9_]+)\.sql$/.exec(file);
    if (!match) throw new MigrationError(`migration file name ${file} must look like 0001_name.sql`);
    const id = Number(match[1]);
    if (id !== migrations.length + 1) throw new MigrationError(`migration ${file} is out of sequence (expected ${migrations.length + 1})`);
    migrations.push({ id, name: match[2]!, sql: await readFile(path.join(dir, file), 'utf8') });
  }
  return migrations;
}

/** Applies every pending migration; returns the ids it applied (none when up to date). */
export async function migrate(pool: pg.Pool, dir = migrationsDir): Promise<number[]> {
  const migrations = await loadMigrations(dir);
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    // Transaction-scoped: released on COMMIT or ROLLBACK, even if this process dies.
    await client.query('SELECT pg_advisory_xact_lock($1)', [LOCK_KEY]);
    await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      id integer PRIMARY KEY,
      name text NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now()
    )`);
    const { rows } = await client.query<{ id: number }>('SELECT id FROM schema_migrations ORDER BY id');
    const applied = new Set(rows.map((r) => r.id));
    const newest = rows.at(-1)?.id ?? 0;
    if (newest > migrations.length) {
      throw new MigrationError(
        `the database has migration ${newest} but this code knows only ${migrations.length}: upgrade the code before running it against this database`,
      );
    }
    const done: number[] = [];
    for (const m of migrations) {
      if (applied.has(m.id)) continue;
      await client.query(m.sql);
      await client.query('INSERT INTO schema_migrations (id, name) VALUES ($1, $2)', [m.id, m.name]);
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
