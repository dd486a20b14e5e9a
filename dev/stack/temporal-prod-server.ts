// The Temporal server as production runs it, without Docker: the real
// multi-service `temporal-server` (frontend, history, matching, worker in one
// process, like the `temporalio/server` image) on its own PostgreSQL for
// persistence and SQL visibility. Everything Temporal-specific comes from
// docker-compose.yml: the server's variables, the schema job's script and
// variables, the namespace/search-attribute script and its arguments, and the
// dynamic config file. Only addresses, ports and database names differ: every
// start gets fresh databases (the server keeps workflows in them forever).
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { promisify } from 'node:util';
import { Connection } from '@temporalio/client';
import pg from 'pg';
import { binaryVersion, resolveBinary, TEMPORAL_CLI } from './binaries.ts';
import { ManagedChild } from './child.ts';
import { composeService, mountedScript } from './compose-services.ts';
import { resolveGoBinaries, TEMPORAL_SERVER, TEMPORAL_SQL_TOOL } from './go-binaries.ts';
import { HOST, pickLowPort } from './ports.ts';
import { LocalPostgres } from './postgres.ts';
import { StopWaiting, waitFor } from './wait.ts';

const run = promisify(execFile);

/** The server's ports besides the frontend's: its template reads each from a variable. Below 32768: see pickLowPort. */
const INTERNAL_PORTS = [
  'FRONTEND_HTTP_PORT',
  'FRONTEND_MEMBERSHIP_PORT',
  'HISTORY_GRPC_PORT',
  'HISTORY_MEMBERSHIP_PORT',
  'MATCHING_GRPC_PORT',
  'MATCHING_MEMBERSHIP_PORT',
  'WORKER_GRPC_PORT',
  'WORKER_MEMBERSHIP_PORT',
] as const;

export interface ProdServerOptions {
  dataDir: string;
  /** The frontend's gRPC port (what workers and clients connect to). */
  port: number;
  /** Temporal's own Postgres (compose's `temporal-db`). */
  postgresPort: number;
  /** Throw-away data: Postgres without fsync, deleted on stop. */
  ephemeral?: boolean;
  env?: NodeJS.ProcessEnv;
  log?: (line: string) => void;
}

export class TemporalProductionServer {
  readonly address: string;
  readonly namespace: string;
  /** No Web UI in this stack (compose runs `temporalio/ui`). */
  readonly uiUrl = undefined;
  /** The Temporal CLI that administers it (namespace, search attributes; tests use it too). */
  binary: string | undefined;
  serverBinary = '';
  version = 'unknown';
  /** Fresh per start: `temporal_<tag>` and `temporal_visibility_<tag>`. */
  readonly databases: { persistence: string; visibility: string };
  private child: ManagedChild | undefined;
  private postgres: LocalPostgres | undefined;
  private serverEnv: NodeJS.ProcessEnv = {};

  private constructor(readonly options: ProdServerOptions) {
    this.address = `${HOST}:${options.port}`;
    this.namespace = composeService('temporal-setup').environment.TEMPORAL_NAMESPACE ?? 'default';
    const tag = `${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
    this.databases = { persistence: `temporal_${tag}`, visibility: `temporal_visibility_${tag}` };
  }

  static async start(options: ProdServerOptions): Promise<TemporalProductionServer> {
    const server = new TemporalProductionServer(options);
    try {
      await server.setUp();
    } catch (err) {
      await server.stop().catch(() => {});
      throw err;
    }
    return server;
  }

  private async setUp(): Promise<void> {
    const { options } = this;
    const log = options.log ?? (() => {});
    const env = options.env ?? process.env;
    const [{ server, sqlTool }, cli] = await Promise.all([
      resolveGoBinaries({ server: TEMPORAL_SERVER, sqlTool: TEMPORAL_SQL_TOOL }, { env, log }),
      resolveBinary(TEMPORAL_CLI, { env, log }),
    ]);
    this.serverBinary = server.path;
    this.binary = cli.path;
    this.version = await binaryVersion(server.path);
    log(`Temporal server: ${server.path} (${server.source}) — ${this.version}`);

    // Temporal's own Postgres, with compose's temporal-db role (not a superuser
    // here: creating its databases is all the schema job needs).
    const db = composeService('temporal-db').environment;
    const user = db.POSTGRES_USER ?? 'temporal';
    const password = db.POSTGRES_PASSWORD ?? 'temporal';
    this.postgres = await LocalPostgres.start({
      dataDir: path.join(options.dataDir, 'temporal-postgres'),
      logFile: path.join(options.dataDir, 'temporal-postgres.log'),
      port: options.postgresPort,
      database: 'postgres',
      ephemeral: options.ephemeral ?? false,
      log,
    });
    const admin = new pg.Client({ connectionString: this.postgres.adminUrl });
    await admin.connect();
    try {
      const { rowCount } = await admin.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [user]);
      if (!rowCount)
        await admin.query(
          `CREATE ROLE "${user.replace(/"/g, '""')}" LOGIN CREATEDB PASSWORD '${password.replace(/'/g, "''")}'`,
        );
    } finally {
      await admin.end();
    }

    const overrides = {
      POSTGRES_SEEDS: HOST,
      DB_PORT: String(options.postgresPort),
      DBNAME: this.databases.persistence,
      VISIBILITY_DBNAME: this.databases.visibility,
    };
    // 1. Schemas, by compose's schema job: same script, same variables.
    const schemaJob = composeService('temporal-schema');
    await this.runScript('temporal-schema', mountedScript(schemaJob), schemaJob.command, {
      ...schemaJob.environment,
      ...overrides,
      TEMPORAL_SQL_TOOL: sqlTool.path,
    });

    // 2. The server, with compose's variables.
    const temporal = composeService('temporal');
    const dynamicConfig = temporal.mounts.get(
      path.posix.join('/etc/temporal', temporal.environment.DYNAMIC_CONFIG_FILE_PATH ?? ''),
    );
    if (!dynamicConfig)
      throw new Error('docker-compose.yml: the temporal service mounts no file at its DYNAMIC_CONFIG_FILE_PATH');
    const taken = new Set([options.port, options.postgresPort]);
    const ports: Record<string, string> = { FRONTEND_GRPC_PORT: String(options.port) };
    for (const name of INTERNAL_PORTS) ports[name] = String(await pickLowPort(taken));
    this.serverEnv = {
      PATH: env.PATH,
      ...temporal.environment,
      ...overrides,
      ...ports,
      BIND_ON_IP: HOST,
      DYNAMIC_CONFIG_FILE_PATH: dynamicConfig,
      // Logs only: the file would otherwise grow by every shard's and queue's info lines.
      LOG_LEVEL: 'warn',
    };
    await this.launch();

    // 3. Namespace and search attributes, by compose's setup job: same script and arguments.
    const setupJob = composeService('temporal-setup');
    await this.runScript('temporal-setup', mountedScript(setupJob), setupJob.command, {
      ...setupJob.environment,
      TEMPORAL_ADDRESS: this.address,
      TEMPORAL_CLI: cli.path,
      SETUP_SLEEP_SECONDS: '0.5',
    });
    const wanted = setupJob.command.map((pair) => pair.split('=')[0]!);
    await waitFor(
      `namespace ${this.namespace} with its search attributes`,
      async () => {
        const registered = await this.searchAttributes();
        return wanted.every((name) => registered.includes(name));
      },
      { timeoutMs: 60_000, intervalMs: 250 },
    );
  }

  private async runScript(
    name: string,
    script: string,
    args: string[],
    env: Record<string, string | undefined>,
  ): Promise<void> {
    try {
      await run('sh', [script, ...args], {
        env: { PATH: process.env.PATH, ...env },
        timeout: 300_000,
        maxBuffer: 16 * 1024 * 1024,
      });
    } catch (err) {
      const e = err as { stdout?: string; stderr?: string; message: string };
      throw new Error(`${name} (${path.basename(script)}) failed: ${e.message}\n${e.stdout ?? ''}${e.stderr ?? ''}`, {
        cause: err,
      });
    }
  }

  /** Starts the server (again) on the same ports and databases, and waits until its frontend is SERVING. */
  async launch(): Promise<void> {
    if (this.child?.running) throw new Error('the Temporal server is already running');
    const child = ManagedChild.spawn(
      'temporal-server',
      this.serverBinary,
      ['start'],
      path.join(this.options.dataDir, 'temporal-server.log'),
      {
        env: this.serverEnv,
      },
    );
    this.child = child;
    try {
      await waitFor(
        'the Temporal server to serve',
        async () => {
          if (!child.running) throw new StopWaiting(`temporal-server exited early:\n${await child.tail()}`);
          return this.serving();
        },
        { timeoutMs: 120_000, intervalMs: 250 },
      );
    } catch (err) {
      await child.kill();
      throw err;
    }
  }

  private async withConnection<T>(fn: (connection: Connection) => Promise<T>): Promise<T> {
    const connection = await Connection.connect({ address: this.address, connectTimeout: 1000 });
    try {
      return await fn(connection);
    } finally {
      await connection.close();
    }
  }

  /** The frontend's gRPC health check, as `temporal operator cluster health` asks it. */
  private serving(): Promise<boolean> {
    return this.withConnection(async (c) => {
      const { status } = await c.healthService.check({ service: 'temporal.api.workflowservice.v1.WorkflowService' });
      return status === 1; // SERVING
    });
  }

  private searchAttributes(): Promise<string[]> {
    return this.withConnection(async (c) => {
      const { customAttributes } = await c.operatorService.listSearchAttributes({ namespace: this.namespace });
      return Object.keys(customAttributes ?? {});
    });
  }

  /** Graceful stop of the server, then of its Postgres (deleted when ephemeral). */
  async stop(): Promise<void> {
    await this.child?.stop(15_000);
    if (this.options.ephemeral) await this.postgres?.destroy();
    else await this.postgres?.stop();
  }

  /** A crash of the server process only (SIGKILL); its Postgres keeps running. */
  async kill(): Promise<void> {
    await this.child?.kill();
  }
}
