// The dev server persists to a SQLite file: a workflow started before a
// crash (SIGKILL) and restart on the same file is still there, still running.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { afterAll, describe, expect, it } from 'vitest';
import { pickPort } from '../dev/stack/ports.ts';
import { TemporalDevServer } from '../dev/stack/temporal-server.ts';

describe('Temporal dev server restart', () => {
  const cleanup: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const fn of cleanup.reverse()) await fn();
  });

  it('keeps a workflow started before the server was killed and restarted on the same data file', async () => {
    const dataDir = await mkdtemp(path.join(os.tmpdir(), 'mailer-temporal-'));
    cleanup.push(() => rm(dataDir, { recursive: true, force: true }));
    const taken = new Set<number>();
    const server = await TemporalDevServer.start({
      dataDir,
      port: await pickPort(undefined, taken),
      uiPort: await pickPort(undefined, taken),
    });
    cleanup.push(() => server.stop());

    const started = await withClient(server.address, async (client) => {
      // No worker polls this task queue, so the workflow stays running.
      const handle = await client.workflow.start('sendEmail', {
        taskQueue: 'nobody-polls-this',
        workflowId: 'survives-restart',
        args: [{ emailId: '00000000-0000-4000-8000-000000000001' }],
      });
      return handle.firstExecutionRunId;
    });

    await server.kill();
    await server.launch();

    const description = await withClient(server.address, (client) =>
      client.workflow.getHandle('survives-restart').describe(),
    );
    expect(description.runId).toBe(started);
    expect(description.status.name).toBe('RUNNING');
    expect(description.type).toBe('sendEmail');
  });
});

async function withClient<T>(address: string, fn: (client: Client) => Promise<T>): Promise<T> {
  const connection = await Connection.connect({ address });
  try {
    return await fn(new Client({ connection }));
  } finally {
    await connection.close();
  }
}
