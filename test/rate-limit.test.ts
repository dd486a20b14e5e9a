// EMAIL_RATE_LIMIT is global: Temporal's task-queue rate limit, enforced by
// the server for every worker of the deliver queue together. Two workers must
// not deliver faster than one would.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestEnv, receivedMessages, type TestEnv } from './helpers.ts';

const RATE = 4; // per second
const EMAILS = 24;

describe('global rate limit', () => {
  let env: TestEnv;
  beforeAll(async () => {
    env = await createTestEnv({ EMAIL_RATE_LIMIT: `${RATE}/s` });
    await Promise.all([env.startWorker(), env.startWorker()]);
  });
  afterAll(() => env?.close());

  it('holds the rate across two workers: one bucketful at once, then RATE per second', async () => {
    for (let i = 0; i < EMAILS; i++) await env.client.send({ from: 'limit@acme.example', to: `limit-${i}@example.com`, subject: `Limited ${i}`, text: 'x' });
    await receivedMessages(env.sink, EMAILS, 60_000);
    const times = env.sink.messages.map((m) => Date.parse(m.receivedAt)).sort((a, b) => a - b);
    // The server's bucket holds one second's worth (RATE), full when the queue
    // was idle; every further delivery waits for a token. With a limit per
    // worker, two workers would take half as long.
    const spanMs = times.at(-1)! - times[0]!;
    expect(spanMs).toBeGreaterThanOrEqual(((EMAILS - 2 * RATE) / RATE) * 1000);
    // No second holds more than a full bucket on top of the rate (plus one for
    // the sink's receive-time jitter).
    const busiest = Math.max(...times.map((t) => times.filter((u) => u >= t && u < t + 1000).length));
    expect(busiest).toBeLessThanOrEqual(2 * RATE + 1);
  });
});
