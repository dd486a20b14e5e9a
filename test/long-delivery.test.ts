// A delivery that legitimately takes longer than a minute (a slow server, a
// large message) is kept alive and never executed twice — where a broker's
// visibility timeout would have handed it to a second worker. Both ways an
// attempt runs: the local first attempt (no rate limit), kept alive by the
// SDK heartbeating its workflow task, and the regular activity (every attempt
// when EMAIL_RATE_LIMIT is set, and every retry), kept alive by its heartbeats.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestEnv, outcome, row, type TestEnv } from './helpers.ts';

const SLOW = { DELIVER_TIMEOUT: '150s', DELIVER_HEARTBEAT_TIMEOUT: '5s', SMTP_SOCKET_TIMEOUT: '100s' };

/** The activity type of a local-activity marker (its details hold it as JSON). */
function localActivityType(data: Uint8Array | null | undefined): string | undefined {
  return data
    ? (JSON.parse(Buffer.from(data).toString('utf8')) as { activity_type?: string }).activity_type
    : undefined;
}

describe('long delivery', () => {
  const envs: Record<'local' | 'activity', TestEnv | undefined> = { local: undefined, activity: undefined };
  beforeAll(async () => {
    envs.local = await createTestEnv(SLOW);
    envs.activity = await createTestEnv({ ...SLOW, EMAIL_RATE_LIMIT: '100/s' });
    await Promise.all([envs.local.startWorker(), envs.activity.startWorker()]);
  });
  afterAll(() => Promise.all(Object.values(envs).map((e) => e?.close())));

  it.concurrent.each([
    ['local', 'the local first attempt'],
    ['activity', 'the rate-limited regular activity'],
  ] as const)('a 65-second send as %s (%s) runs exactly once', { timeout: 120_000 }, async (kind, _how) => {
    const env = envs[kind]!;
    env.sink.replyQueue.push({ kind: 'accept', delayMs: 65_000 });
    const sent = await env.client.send({
      from: 'reports@acme.example',
      to: 'slow@example.com',
      subject: 'Big report',
      text: 'x',
    });
    expect(await outcome(env, sent.workflowId)).toEqual({ status: 'sent' });
    expect(await row(env, sent.id)).toMatchObject({ status: 'sent', attempts: 1, possibly_delivered: false });
    expect(env.sink.messages.filter((m) => m.rcptTo.includes('slow@example.com'))).toHaveLength(1);
    const events = (await env.client.temporal.workflow.getHandle(sent.workflowId).fetchHistory()).events!;
    const local = events.filter(
      (e) => localActivityType(e.markerRecordedEventAttributes?.details?.data?.payloads?.[0]?.data) === 'deliver',
    );
    const regular = events.filter((e) => e.activityTaskStartedEventAttributes);
    // deliver ran once, in the way the configuration asks for (blockCheck and prepare are markers too).
    expect({ local: local.length, regular: regular.length }).toEqual(
      kind === 'local' ? { local: 1, regular: 0 } : { local: 0, regular: 1 },
    );
  });
});
