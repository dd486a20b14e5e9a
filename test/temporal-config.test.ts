// The standard Temporal connection settings (@temporalio/envconfig): the same
// worker and client reach the local stack through a profile file as through
// environment variables, and an API key turns on TLS without being printed.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Mailer } from '../src/index.ts';
import { ConfigError, describeConfig, loadConfig } from '../src/config.ts';
import { startWorker } from '../src/worker.ts';
import { inject } from 'vitest';
import { createTestEnv, FAST_RETRIES, type TestEnv, waitFor } from './helpers.ts';

describe('Temporal connection configuration', () => {
  let env: TestEnv;
  let dir: string;
  beforeAll(async () => {
    env = await createTestEnv();
    dir = await mkdtemp(path.join(os.tmpdir(), 'mailer-envconfig-'));
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
    await env?.close();
  });

  it('connects the worker and the client through a profile in a config file, and delivers', async () => {
    const file = path.join(dir, 'temporal.toml');
    await writeFile(
      file,
      `[profile.local]\naddress = "${env.config.temporal.address}"\nnamespace = "default"\n\n[profile.elsewhere]\naddress = "203.0.113.1:7233"\n`,
    );
    const config = loadConfig({
      ...FAST_RETRIES,
      TEMPORAL_CONFIG_FILE: file,
      TEMPORAL_PROFILE: 'local',
      TEMPORAL_TASK_QUEUE: `${env.config.temporal.taskQueue}-profile`,
      DATABASE_URL: env.config.databaseUrl,
      SMTP_URL: env.sink.url,
    });
    expect(config.temporal).toMatchObject({ address: env.config.temporal.address, namespace: 'default' });
    const worker = await startWorker({ config, workflowBundle: { codePath: inject('workflowBundlePath') } });
    const mailer = await Mailer.connect({ config });
    try {
      const sent = await mailer.send({ from: 'app@acme.example', to: 'profile@example.com', subject: 's', text: 't' });
      await waitFor(
        'delivery through the profile-configured worker',
        async () => (await mailer.get(sent.id))?.status === 'sent',
      );
    } finally {
      await mailer.close();
      await worker.shutdown();
    }
  });

  it('takes TEMPORAL_API_KEY (TLS on) and never prints it', () => {
    const config = loadConfig({
      DATABASE_URL: 'postgres://u:p@db:5432/mailer',
      TEMPORAL_ADDRESS: 'ns.acct.tmprl.cloud:7233',
      TEMPORAL_NAMESPACE: 'ns.acct',
      TEMPORAL_API_KEY: 'very-secret-key',
    });
    expect(config.temporal).toMatchObject({ address: 'ns.acct.tmprl.cloud:7233', namespace: 'ns.acct' });
    expect(config.temporal.connection.apiKey).toBe('very-secret-key');
    expect(config.temporal.connection.tls).toBeTruthy();
    expect(JSON.stringify(describeConfig(config))).not.toContain('very-secret-key');
  });

  it('refuses a profile that does not exist, naming the variable', () => {
    const run = () =>
      loadConfig({
        DATABASE_URL: 'postgres://u:p@db:5432/mailer',
        TEMPORAL_CONFIG_FILE: path.join(dir, 'temporal.toml'),
        TEMPORAL_PROFILE: 'nope',
      });
    expect(run).toThrow(ConfigError);
    expect(run).toThrow(/^TEMPORAL_CONFIG_FILE: /);
  });
});
