// A delivery that legitimately takes longer than a minute (a slow server, a
// large message) is kept alive by heartbeats and never executed twice — where
// a broker's visibility timeout would have handed it to a second worker.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestEnv, outcome, row, type TestEnv } from './helpers.ts';

describe('long delivery', () => {
  let env: TestEnv;
  beforeAll(async () => {
    env = await createTestEnv({ DELIVER_TIMEOUT: '150s', DELIVER_HEARTBEAT_TIMEOUT: '5s', SMTP_SOCKET_TIMEOUT: '100s' });
    await env.startWorker();
  });
  afterAll(() => env?.close());

  it('a 65-second send heartbeats through and runs exactly once', async () => {
    env.sink.replyQueue.push({ kind: 'accept', delayMs: 65_000 });
    const sent = await env.client.send({ from: 'reports@acme.example', to: 'slow@example.com', subject: 'Big report', text: 'x' });
    expect(await outcome(env, sent.workflowId)).toEqual({ status: 'sent' });
    expect(await row(env, sent.id)).toMatchObject({ status: 'sent', attempts: 1, possibly_delivered: false });
    expect(env.sink.messages.filter((m) => m.rcptTo.includes('slow@example.com'))).toHaveLength(1);
    const history = await env.client.temporal.workflow.getHandle(sent.workflowId).fetchHistory();
    const started = history.events!.filter((e) => e.activityTaskStartedEventAttributes).length;
    expect(started).toBe(1); // deliver ran once (blockCheck and prepare are local activities: markers)
  }, 120_000);
});
