// What each email costs the two databases: Postgres's own counters (WAL
// records, WAL bytes, WAL fsyncs: the write load of the application
// database) and the bytes the Temporal dev server wrote to its SQLite files
// (/proc/<pid>/io write_bytes: what reached the block layer). Snapshots
// before and after a phase, divided by the emails it delivered.
import { readFileSync } from 'node:fs';
import type pg from 'pg';
import { round } from './stats.ts';

export interface PersistenceSnapshot {
  walRecords: number;
  walBytes: number;
  walFsyncs: number;
  temporalWriteBytes: number;
}

/** Postgres's cumulative WAL counters (all databases) and the Temporal process's disk writes so far. */
export async function persistenceSnapshot(
  db: pg.Client,
  temporalPid: number | undefined,
): Promise<PersistenceSnapshot> {
  // Backends publish their counters when a transaction ends or within a second; a
  // phase is long enough for that not to matter.
  const wal = await db.query<{ records: string; bytes: string }>(
    'SELECT wal_records AS records, wal_bytes AS bytes FROM pg_stat_wal',
  );
  const io = await db
    .query<{ fsyncs: string | null }>("SELECT sum(fsyncs) AS fsyncs FROM pg_stat_io WHERE object = 'wal'")
    .catch(() => ({ rows: [{ fsyncs: null }] }));
  return {
    walRecords: Number(wal.rows[0]?.records ?? 0),
    walBytes: Number(wal.rows[0]?.bytes ?? 0),
    walFsyncs: Number(io.rows[0]?.fsyncs ?? 0),
    temporalWriteBytes: temporalPid ? writeBytes(temporalPid) : 0,
  };
}

function writeBytes(pid: number): number {
  try {
    return Number(/^write_bytes:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/io`, 'utf8'))?.[1] ?? 0);
  } catch {
    return 0;
  }
}

export interface PersistencePerEmail {
  postgresWalRecords: number;
  postgresWalBytes: number;
  postgresWalFsyncs: number;
  temporalDiskBytes: number;
}

export function persistencePerEmail(
  before: PersistenceSnapshot,
  after: PersistenceSnapshot,
  emails: number,
): PersistencePerEmail {
  const per = (a: number, b: number, digits = 1) => round((b - a) / Math.max(1, emails), digits);
  return {
    postgresWalRecords: per(before.walRecords, after.walRecords),
    postgresWalBytes: per(before.walBytes, after.walBytes, 0),
    postgresWalFsyncs: per(before.walFsyncs, after.walFsyncs, 2),
    temporalDiskBytes: per(before.temporalWriteBytes, after.temporalWriteBytes, 0),
  };
}
