// The real Temporal server for development and tests: `temporal server
// start-dev`, bound to 127.0.0.1, persisted to a SQLite file so that a restart
// (or a crash) keeps every workflow, with the Web UI and our search attributes.
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { BinaryNotFoundError, binaryVersion, resolveBinary, TEMPORAL_CLI } from './binaries.ts';
import { ManagedChild } from './child.ts';
import { HOST, isListening } from './ports.ts';
import { StopWaiting, waitFor } from './wait.ts';
import { SEARCH_ATTRIBUTES, searchAttributeCliArgs } from '../../src/search-attributes.ts';

/**
 * Server settings, one place (docker/temporal-dynamicconfig.yaml follows it).
 * One task-queue partition makes Temporal's task-queue rate limit a single
 * global bucket instead of four. The history service polls its transfer queue
 * (new workflow and activity tasks on their way to matching) at most 20 times
 * a second by default: once emails come faster than a few per second, every
 * task waits up to 50 ms for the next poll. At 10 emails/s this took the p50
 * from send() to the SMTP server from ~100 ms to ~50 ms (README, Performance).
 * Priority (send's `priority`) works with the server's defaults; fairness
 * (`fairnessKey`: one tenant's flood does not starve another) is off by
 * default and needs the fairness matcher.
 */
export const DEV_SERVER_DYNAMIC_CONFIG = [
  'matching.numTaskqueueReadPartitions=1',
  'matching.numTaskqueueWritePartitions=1',
  'history.transferProcessorMaxPollRPS=1000',
  'matching.enableFairness=true',
];

/**
 * SQLite in WAL mode with synchronous=NORMAL: commits no longer wait for an
 * fsync of the database file. A crash of the server process (SIGKILL) loses
 * nothing — the WAL is in the OS's hands — only an OS crash or power loss can
 * lose the last commits, an acceptable trade for a development server (see
 * the README's performance section for what it buys).
 */
export const DEV_SERVER_SQLITE_PRAGMAS = ['journal_mode=wal', 'synchronous=normal'];

export interface TemporalServerOptions {
  dataDir: string;
  port: number;
  uiPort: number;
  namespace?: string;
  env?: NodeJS.ProcessEnv;
  log?: (line: string) => void;
}

/** Either a process we spawned, or (last resort) one the SDK downloaded and runs. */
type Runner = { kind: 'child'; child: ManagedChild } | { kind: 'sdk'; env: TestWorkflowEnvironment };

export class TemporalDevServer {
  readonly address: string;
  readonly uiUrl: string;
  readonly namespace: string;
  readonly dbFile: string;
  version = 'unknown';
  binary: string | undefined;
  private runner: Runner | undefined;

  private constructor(readonly options: TemporalServerOptions) {
    this.address = `${HOST}:${options.port}`;
    this.uiUrl = `http://${HOST}:${options.uiPort}`;
    this.namespace = options.namespace ?? 'default';
    this.dbFile = path.join(options.dataDir, 'temporal.db');
  }

  static async start(options: TemporalServerOptions): Promise<TemporalDevServer> {
    const server = new TemporalDevServer(options);
    const log = options.log ?? (() => {});
    try {
      const bin = await resolveBinary(TEMPORAL_CLI, { log, env: options.env ?? process.env });
      server.binary = bin.path;
      server.version = await binaryVersion(bin.path);
      log(`Temporal CLI: ${bin.path} (${bin.source}) — ${server.version}`);
    } catch (err) {
      if (!(err instanceof BinaryNotFoundError) || err.explicit) throw err;
      log(`${err.message}\nfalling back to the Temporal SDK's own download…`);
    }
    await server.launch();
    return server;
  }

  private args(): string[] {
    const { port, uiPort } = this.options;
    return [
      'server',
      'start-dev',
      '--ip',
      HOST,
      '--port',
      String(port),
      '--ui-port',
      String(uiPort),
      '--ui-disable-news-fetch',
      '--db-filename',
      this.dbFile,
      '--namespace',
      this.namespace,
      '--log-level',
      'warn',
      ...searchAttributeCliArgs(),
      ...DEV_SERVER_DYNAMIC_CONFIG.flatMap((v) => ['--dynamic-config-value', v]),
      ...DEV_SERVER_SQLITE_PRAGMAS.flatMap((p) => ['--sqlite-pragma', p]),
    ];
  }

  /** Starts the server (again) on the same ports and data file, and waits until it answers. */
  async launch(): Promise<void> {
    if (this.runner) throw new Error('Temporal dev server is already running');
    if (this.binary) {
      const child = ManagedChild.spawn(
        'temporal',
        this.binary,
        this.args(),
        path.join(this.options.dataDir, 'temporal.log'),
      );
      this.runner = { kind: 'child', child };
      try {
        // A server that exited (a port taken, a bad flag) fails the start at once.
        await waitFor(
          'the Temporal dev server to answer',
          async () => {
            if (!child.running) throw new StopWaiting(`exited early:\n${await child.tail()}`);
            return (await isListening(this.options.port)) && (await this.answers());
          },
          { timeoutMs: 60_000, intervalMs: 200 },
        );
      } catch (err) {
        await this.stop();
        throw err;
      }
    } else {
      const env = await TestWorkflowEnvironment.createLocal({
        server: {
          ip: HOST,
          port: this.options.port,
          ui: true,
          uiPort: this.options.uiPort,
          dbFilename: this.dbFile,
          namespace: this.namespace,
          searchAttributes: [...SEARCH_ATTRIBUTES],
          extraArgs: [
            ...DEV_SERVER_DYNAMIC_CONFIG.flatMap((v) => ['--dynamic-config-value', v]),
            ...DEV_SERVER_SQLITE_PRAGMAS.flatMap((p) => ['--sqlite-pragma', p]),
          ],
        },
      });
      this.runner = { kind: 'sdk', env };
      this.version = 'downloaded by the Temporal SDK';
    }
    await waitFor('the Temporal Web UI to answer', async () => (await fetch(this.uiUrl)).ok, { timeoutMs: 30_000 });
  }

  /** True when the frontend answers a real request for our namespace. */
  private async answers(): Promise<boolean> {
    const connection = await Connection.connect({ address: this.address, connectTimeout: 1000 });
    try {
      await connection.workflowService.describeNamespace({ namespace: this.namespace });
      return true;
    } finally {
      await connection.close();
    }
  }

  /** Graceful stop (SIGTERM, then SIGKILL after a grace period). */
  async stop(): Promise<void> {
    const runner = this.runner;
    this.runner = undefined;
    if (runner?.kind === 'child') await runner.child.stop();
    if (runner?.kind === 'sdk') await runner.env.teardown();
  }

  /** A hung server (SIGSTOP): connections stay open, nothing answers. `thaw()` resumes it. */
  freeze(): void {
    if (this.runner?.kind !== 'child') throw new Error('only a server this process spawned can be frozen');
    this.runner.child.process.kill('SIGSTOP');
  }

  thaw(): void {
    if (this.runner?.kind !== 'child') throw new Error('only a server this process spawned can be thawed');
    this.runner.child.process.kill('SIGCONT');
  }

  /** A crash: SIGKILL, no chance to flush anything. */
  async kill(): Promise<void> {
    const runner = this.runner;
    this.runner = undefined;
    if (runner?.kind === 'child') await runner.child.kill();
    if (runner?.kind === 'sdk') await runner.env.teardown();
  }
}
