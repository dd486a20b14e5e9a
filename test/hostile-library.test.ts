// Hostile use of the library that is not about one bad field: a cancel that
// times out must leave nothing running behind the caller's back.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { InterceptingCall, type Interceptor } from '@grpc/grpc-js';
import { Client, Connection, defaultGrpcRetryOptions, makeGrpcRetryInterceptor } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Mailer } from '../src/client.ts';
import { createTestEnv, type TestEnv } from './helpers.ts';

const exec = promisify(execFile);

describe('cancel() of an email whose workflow does not finish in time', () => {
  let env: TestEnv;
  beforeAll(async () => {
    env = await createTestEnv();
  });
  afterAll(() => env?.close());

  it('returns after timeoutMs with no call to Temporal still in flight', async () => {
    let inFlight = 0;
    const counting: Interceptor = (options, next) => new InterceptingCall(next(options), {
      start(metadata, _listener, start) {
        inFlight++;
        start(metadata, { onReceiveStatus(status, done) { inFlight--; done(status); } });
      },
    });
    const connection = await Connection.connect({
      address: env.config.temporal.address,
      interceptors: [counting, makeGrpcRetryInterceptor(defaultGrpcRetryOptions())],
    });
    const mailer = await Mailer.connect({ config: env.config, pool: env.pool, temporal: new Client({ connection, namespace: env.config.temporal.namespace }) });
    try {
      // No worker polls this file's task queue: the workflow cannot acknowledge the cancel.
      const { id } = await mailer.send({ from: 'app@acme.example', to: 'ann@example.com', subject: 'Cancel me', text: 'Hello' });
      const started = Date.now();
      expect(await mailer.cancel(id, { timeoutMs: 300 })).toEqual({ id, status: 'queued' });
      expect(Date.now() - started).toBeLessThan(15_000);
      expect(inFlight).toBe(0);
    } finally {
      await connection.close();
    }
  });

  it('then close(): the process exits by itself with code 0, twice in a row', async () => {
    for (let run = 0; run < 2; run++) {
      const { stdout, stderr } = await exec(process.execPath, ['--import', 'tsx', path.join(import.meta.dirname, 'hostile-cancel-child.ts')], {
        env: {
          ...process.env,
          DATABASE_URL: env.config.databaseUrl,
          TEMPORAL_ADDRESS: env.config.temporal.address,
          TEMPORAL_NAMESPACE: env.config.temporal.namespace,
          TEMPORAL_TASK_QUEUE: env.config.temporal.taskQueue,
        },
        timeout: 60_000,
      });
      expect(stderr).not.toMatch(/Channel has been shut down|Error/);
      const { id, status } = JSON.parse(stdout) as { id: string; status: string };
      expect(status).toBe('queued');
      const { rows } = await env.pool.query('SELECT status FROM emails WHERE id = $1', [id]);
      expect(rows[0].status).toBe('queued');
    }
  });
});
