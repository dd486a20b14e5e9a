// The local stack: a real Temporal dev server, a real Postgres and a real SMTP
// sink on 127.0.0.1, each replaced by an existing one when its variable is set
// (TEMPORAL_ADDRESS, DATABASE_URL, SMTP_URL). Used by `npm start`, the test
// suite's global setup and the benchmark.
import type http from 'node:http';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { startMailboxWeb } from './mailbox-web.ts';
import { pickPort, withPortRetry } from './ports.ts';
import { LocalPostgres } from './postgres.ts';
import { SmtpSink } from './smtp-sink.ts';
import { TemporalDevServer } from './temporal-server.ts';

export const projectRoot = path.resolve(import.meta.dirname, '../..');

export interface StackOptions {
  /** Where every local part keeps its data; default `.data/` in the project. */
  dataDir?: string;
  /** Use the usual ports (7233, 8233, 5432, 1025, 1080) when free. Off: any free ports. */
  defaultPorts?: boolean;
  /** Exact ports, where a caller must know them in advance. */
  ports?: Partial<Record<'smtp' | 'mailbox' | 'postgres' | 'temporal' | 'temporalUi', number>>;
  /** Throw-away data: Postgres without fsync. */
  ephemeral?: boolean;
  /** Serve the web mailbox. */
  mailboxWeb?: boolean;
  /**
   * `dev`: `temporal server start-dev` (SQLite). `production`: the real
   * temporal-server on its own Postgres, set up as docker-compose.yml sets it
   * up (temporal-prod-server.ts; built from source on first use).
   */
  temporal?: TemporalKind;
  env?: NodeJS.ProcessEnv;
  log?: (line: string) => void;
}

export type TemporalKind = 'dev' | 'production';

/** What the stack and its callers need of either Temporal server. */
export interface TemporalServer {
  readonly address: string;
  readonly namespace: string;
  readonly uiUrl: string | undefined;
  /** The Temporal CLI that goes with it. */
  binary: string | undefined;
  version: string;
  launch(): Promise<void>;
  stop(): Promise<void>;
  kill(): Promise<void>;
}

/** Every address of the stack, in one place. */
export interface StackInfo {
  temporalKind: TemporalKind | undefined;
  temporalAddress: string;
  temporalNamespace: string;
  temporalUiUrl: string | undefined;
  temporalCli: string | undefined;
  temporalVersion: string | undefined;
  databaseUrl: string;
  smtpUrl: string;
  mailboxDir: string | undefined;
  mailboxUrl: string | undefined;
  dataDir: string;
}

export interface Stack {
  info: StackInfo;
  temporal: TemporalServer | undefined;
  postgres: LocalPostgres | undefined;
  smtp: SmtpSink | undefined;
  stop(): Promise<void>;
}

export async function startStack(options: StackOptions = {}): Promise<Stack> {
  const env = options.env ?? process.env;
  const log = options.log ?? ((line: string) => console.error(`[stack] ${line}`));
  const dataDir = path.resolve(options.dataDir ?? path.join(projectRoot, '.data'));
  await mkdir(dataDir, { recursive: true });
  const taken = new Set<number>();
  const port = (usual: number, exact?: number) => exact ?? pickPort(options.defaultPorts ? usual : undefined, taken);
  const ports = options.ports ?? {};

  const parts: { stop(): Promise<void> }[] = [];
  const stopAll = async () => {
    // Reverse order of start; one failing stop must not keep the others running.
    const results = await Promise.allSettled(parts.reverse().map((p) => p.stop()));
    parts.length = 0;
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  };

  try {
    let smtp: SmtpSink | undefined;
    let mailboxUrl: string | undefined;
    if (!env.SMTP_URL) {
      smtp = await withPortRetry(
        'SMTP sink',
        async () => SmtpSink.start({ dir: path.join(dataDir, 'mailbox'), port: await port(1025, ports.smtp) }),
        { fixed: ports.smtp !== undefined, log },
      );
      parts.push({ stop: () => smtp!.close() });
      if (options.mailboxWeb) {
        const webPort = await port(1080, ports.mailbox);
        const web: http.Server = await startMailboxWeb(smtp, webPort);
        parts.push({ stop: () => new Promise<void>((r) => web.close(() => r())) });
        mailboxUrl = `http://127.0.0.1:${webPort}`;
      }
    }

    let postgres: LocalPostgres | undefined;
    if (!env.DATABASE_URL) {
      postgres = await withPortRetry(
        'Postgres',
        async () =>
          LocalPostgres.start({
            dataDir: path.join(dataDir, 'postgres'),
            logFile: path.join(dataDir, 'postgres.log'),
            port: await port(5432, ports.postgres),
            database: 'mailer',
            ephemeral: options.ephemeral ?? false,
            log,
          }),
        { fixed: ports.postgres !== undefined, log },
      );
      parts.push(postgres);
    }

    let temporal: TemporalServer | undefined;
    if (!env.TEMPORAL_ADDRESS && options.temporal === 'production') {
      // Imported on demand: it reads docker-compose.yml with a dev dependency.
      const { TemporalProductionServer } = await import('./temporal-prod-server.ts');
      temporal = await withPortRetry(
        'Temporal server',
        async () =>
          TemporalProductionServer.start({
            dataDir,
            port: await port(7233, ports.temporal),
            postgresPort: await port(5433),
            ephemeral: options.ephemeral ?? false,
            env,
            log,
          }),
        { fixed: ports.temporal !== undefined, log },
      );
      parts.push(temporal);
    } else if (!env.TEMPORAL_ADDRESS) {
      // Fixed only when both are: the dev server also picks five internal ports of its own.
      temporal = await withPortRetry(
        'Temporal dev server',
        async () => {
          const grpcPort = await port(7233, ports.temporal);
          return TemporalDevServer.start({
            dataDir,
            port: grpcPort,
            uiPort: await port(grpcPort + 1000, ports.temporalUi),
            env,
            log,
          });
        },
        { fixed: ports.temporal !== undefined && ports.temporalUi !== undefined, log },
      );
      parts.push(temporal);
    }

    const info: StackInfo = {
      temporalKind: temporal ? (options.temporal ?? 'dev') : undefined,
      temporalAddress: temporal?.address ?? env.TEMPORAL_ADDRESS!,
      temporalNamespace: temporal?.namespace ?? env.TEMPORAL_NAMESPACE ?? 'default',
      temporalUiUrl: temporal?.uiUrl,
      temporalCli: temporal?.binary,
      temporalVersion: temporal?.version,
      databaseUrl: postgres?.url ?? env.DATABASE_URL!,
      smtpUrl: smtp?.url ?? env.SMTP_URL!,
      mailboxDir: smtp?.dir,
      mailboxUrl,
      dataDir,
    };
    return { info, temporal, postgres, smtp, stop: stopAll };
  } catch (err) {
    await stopAll().catch(() => {});
    throw err;
  }
}

/** The environment a worker or `mailer` needs to use this stack. */
export function stackEnv(info: StackInfo): Record<string, string> {
  return {
    TEMPORAL_ADDRESS: info.temporalAddress,
    TEMPORAL_NAMESPACE: info.temporalNamespace,
    ...(info.temporalUiUrl ? { TEMPORAL_UI_URL: info.temporalUiUrl } : {}),
    DATABASE_URL: info.databaseUrl,
    SMTP_URL: info.smtpUrl,
  };
}
