// The client as a guest in someone else's app: it reads only its own settings
// (a host's LOG_LEVEL or METRICS_ADDRESS does not stop it), explicit options
// win over the environment, a caller's pool needs no DATABASE_URL, and send()
// is bounded: a frozen or dead Temporal costs the caller at most the start
// deadline, and the stored email is delivered once Temporal is back.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { pickPort } from '../dev/stack/ports.ts';
import { TemporalDevServer } from '../dev/stack/temporal-server.ts';
import { reconcile } from '../src/email/lost.ts';
import { Mailer } from '../src/index.ts';
import { startWorker } from '../src/worker.ts';
import { createTestEnv, receivedMessages, row, runMailer, waitFor, type TestEnv } from './helpers.ts';

const EMAIL = { from: 'app@acme.example', to: 'guest@example.com', subject: 'Hi', text: 'Hello' };

describe('the client in a host app', () => {
  let env: TestEnv;
  beforeAll(async () => {
    env = await createTestEnv();
  });
  afterAll(() => env?.close());

  it("ignores the host's own settings, and explicit options win over the environment", async () => {
    const hostEnv = {
      // What a pino / OpenTelemetry app commonly sets for itself.
      LOG_LEVEL: 'silent',
      LOG_FORMAT: 'text',
      METRICS_ADDRESS: ':9464',
      // The worker's settings are not the client's business either.
      EMAIL_RATE_LIMIT: 'fast please',
      SMTP_URL: 'not a url',
      DATABASE_URL: env.config.databaseUrl,
      TEMPORAL_ADDRESS: env.config.temporal.address,
      TEMPORAL_NAMESPACE: env.config.temporal.namespace,
      TEMPORAL_TASK_QUEUE: 'the-host-apps-own-queue',
    };
    const mailer = await Mailer.connect({ env: hostEnv, taskQueue: env.config.temporal.taskQueue });
    try {
      const sent = await mailer.send(EMAIL);
      expect(sent.workflowStarted).toBe(true);
      const description = await mailer.temporal.workflow.getHandle(sent.workflowId).describe();
      expect(description.taskQueue).toBe(env.config.temporal.taskQueue);
    } finally {
      await mailer.close();
    }
  });

  it('takes a caller-supplied pool without any database URL', async () => {
    const mailer = await Mailer.connect({
      env: { TEMPORAL_ADDRESS: env.config.temporal.address, TEMPORAL_NAMESPACE: env.config.temporal.namespace },
      pool: env.pool,
      taskQueue: env.config.temporal.taskQueue,
    });
    const sent = await mailer.send(EMAIL);
    await mailer.close();
    expect((await row(env, sent.id)).status).toBe('queued');
    expect(env.pool.ended).toBe(false);
  });

  it('names a namespace Temporal does not have: the email is stored, the CLI says why and exits 3', async () => {
    const result = await runMailer(
      { ...env, config: { ...env.config, temporal: { ...env.config.temporal, namespace: 'no-such-namespace' } } },
      'send',
      '--from',
      'app@acme.example',
      '--to',
      'ns@example.com',
      '--subject',
      'x',
      '--text',
      'y',
    );
    expect(result.code).toBe(3);
    expect(result.json).toMatchObject({ workflowStarted: false, startError: { code: 'TEMPORAL_CONFIG' } });
    expect(result.stderr).toMatch(/TEMPORAL_NAMESPACE: namespace "no-such-namespace" not found/);
    expect((await row(env, result.json.id as string)).status).toBe('queued');
  });
});

describe('send() against a frozen or dead Temporal', { timeout: 180_000 }, () => {
  let env: TestEnv;
  let server: TemporalDevServer;
  let dataDir: string;
  let mailer: Mailer;
  beforeAll(async () => {
    env = await createTestEnv();
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'mailer-frozen-'));
    const taken = new Set<number>();
    server = await TemporalDevServer.start({
      dataDir,
      port: await pickPort(undefined, taken),
      uiPort: await pickPort(undefined, taken),
    });
    mailer = await Mailer.connect({
      config: { ...env.config, temporal: { ...env.config.temporal, address: server.address }, startTimeoutMs: 2000 },
      pool: env.pool,
    });
  }, 120_000);
  afterAll(async () => {
    await mailer?.close();
    await server?.stop();
    await env?.close();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('returns within its deadline with workflowStarted false, and the email is delivered once Temporal is back', async () => {
    server.freeze();
    let started = Date.now();
    const frozen = await mailer.send({ ...EMAIL, subject: 'frozen' });
    const frozenMs = Date.now() - started;
    server.thaw();
    expect(frozen).toMatchObject({ workflowStarted: false, startError: { code: 'START_TIMEOUT' } });
    expect(frozenMs).toBeLessThan(2000 + 5000);

    await server.kill();
    started = Date.now();
    const dead = await mailer.send({ ...EMAIL, subject: 'dead' });
    const deadMs = Date.now() - started;
    expect(dead.workflowStarted).toBe(false);
    expect(deadMs).toBeLessThan(2000 + 5000);
    expect((await row(env, dead.id)).status).toBe('queued');

    await server.launch();
    const worker = await startWorker({
      config: { ...env.config, temporal: { ...env.config.temporal, address: server.address } },
      workflowBundle: { codePath: inject('workflowBundlePath') },
    });
    try {
      // What the reconcile Schedule does every RECONCILE_INTERVAL, done here
      // until both are sent. (The frozen server may have taken the first start
      // after all, once thawed: then reconcile finds that one running, not lost.)
      await waitFor(
        'both emails sent',
        async () => {
          await reconcile({ db: env.db, temporal: mailer.temporal, config: mailer.config }, { olderThanMs: 0 });
          return (await row(env, frozen.id)).email_has_been_sent && (await row(env, dead.id)).email_has_been_sent;
        },
        { timeoutMs: 60_000, intervalMs: 1000 },
      );
      const messages = await receivedMessages(env.sink, 2);
      expect(messages.map((m) => m.subject).sort()).toEqual(['dead', 'frozen']);
      expect(env.sink.messages).toHaveLength(2);
    } finally {
      await worker.shutdown();
    }
  });
});
