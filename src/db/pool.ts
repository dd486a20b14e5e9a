import pg from 'pg';

/** One pool per process; callers end it on shutdown. */
export function createPool(databaseUrl: string, max = 10): pg.Pool {
  const pool = new pg.Pool({ connectionString: databaseUrl, max, connectionTimeoutMillis: 10_000 });
  // An idle client losing its connection (Postgres restarted) must not crash the
  // process: the pool drops it and the next query gets a fresh one.
  pool.on('error', () => {});
  return pool;
}
