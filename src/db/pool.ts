import pg from 'pg';

/** One pool per process; callers end it on shutdown. */
export function createPool(databaseUrl: string, max = 10): pg.Pool {
  const pool = new pg.Pool({ connectionString: databaseUrl, max, connectionTimeoutMillis: 10_000 });
  // A client losing its connection (Postgres restarted) must not crash the
  // process. Idle ones are reported on the pool; a checked-out one (inside a
  // transaction) emits on itself, and an 'error' event with no listener is
  // fatal in Node. Its query rejects anyway, which is where the caller learns.
  pool.on('error', () => {});
  pool.on('connect', (client) => client.on('error', () => {}));
  return pool;
}
