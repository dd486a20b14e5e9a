// What the figures were measured on: versions, the dev server's and
// Postgres's settings as really started, the machine, the worker's settings.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type pg from 'pg';
import { loadConfig } from '../src/config.ts';
import { projectRoot, type Stack } from '../dev/stack/index.ts';
import { DEV_SERVER_DYNAMIC_CONFIG } from '../dev/stack/temporal-server.ts';
import { FROM, HTML, TEXT } from './context.ts';
import { cmdline, cpuSnapshot, machineInfo } from './proc.ts';
import type { BenchResults } from './results.ts';

/** Puts every version and setting that shapes the figures on record in `results`. */
export async function recordEnvironment(
  results: BenchResults,
  stack: Stack,
  db: pg.Client,
  baseEnv: Record<string, string>,
  dataDir: string,
): Promise<void> {
  const sdk = async (name: string) =>
    (
      JSON.parse(
        await readFile(path.join(projectRoot, 'node_modules', '@temporalio', name, 'package.json'), 'utf8'),
      ) as { version: string }
    ).version;
  const setting = async (name: string) =>
    (await db.query<{ setting: string }>('SELECT current_setting($1) AS setting', [name])).rows[0]?.setting;
  const pgSettings: Record<string, string | undefined> = {};
  for (const name of [
    'fsync',
    'synchronous_commit',
    'full_page_writes',
    'wal_level',
    'shared_buffers',
    'max_connections',
    'checkpoint_timeout',
    'max_wal_size',
  ]) {
    pgSettings[name] = await setting(name);
  }
  const pids = cpuSnapshot([]).pids;
  const temporalArgs = cmdline(pids.temporal) ?? [];
  const argValues = (flag: string) =>
    temporalArgs.flatMap((arg, i) => (arg === flag && temporalArgs[i + 1] ? [temporalArgs[i + 1]!] : []));
  const workerConfig = loadConfig(baseEnv);
  results.environment = {
    ...results.environment,
    node: process.version,
    temporalSdk: { worker: await sdk('worker'), client: await sdk('client'), workflow: await sdk('workflow') },
    temporalCli: stack.info.temporalCli,
    temporalVersion: stack.info.temporalVersion,
    temporalDevServer: {
      dynamicConfig: DEV_SERVER_DYNAMIC_CONFIG,
      // As the server was really started (its command line); none means the CLI's defaults.
      dynamicConfigPassed: argValues('--dynamic-config-value'),
      sqlitePragmas: argValues('--sqlite-pragma').length
        ? argValues('--sqlite-pragma')
        : 'none passed (temporal CLI defaults)',
      commandLine: temporalArgs,
    },
    postgres: {
      version: (await db.query<{ version: string }>('SELECT version()')).rows[0]?.version,
      settings: pgSettings,
      commandLine: cmdline(pids.postgres),
    },
    ...machineInfo(dataDir),
    platform: `${process.platform}-${process.arch}`,
  };
  results.settings = {
    workerEnvironment: baseEnv,
    worker: {
      maxConcurrentDeliveries: workerConfig.worker.maxConcurrentDeliveries,
      maxConcurrentActivities: workerConfig.worker.maxConcurrentActivities,
      smtpPoolSize: workerConfig.smtp.poolSize,
      deliver: workerConfig.deliver,
      layout:
        'each worker is its own process (bench/worker-child.ts → startWorker from src/worker.ts, pre-built workflow bundle); the bench process runs Mailer.send() and the SMTP sink',
    },
    client: {
      poolMax: 10,
      note: 'Mailer.send() over one pg pool as createPool() builds it and one Temporal client connection',
    },
    email: {
      from: FROM,
      textBytes: Buffer.byteLength(TEXT),
      htmlBytes: Buffer.byteLength(HTML),
      recipients: 1,
      attachments: 0,
    },
    postgresFsync: 'on (ephemeral: false)',
  };
  results.notes.push(
    'All processes share one machine: the worker(s), the bench process (client and SMTP sink), the Temporal dev server and Postgres compete for the same cores.',
  );
  if (pgSettings.fsync !== 'on') results.notes.push(`Postgres fsync is ${pgSettings.fsync}: not production-like`);
}
