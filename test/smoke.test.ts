import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestEnv, receivedMessages, type TestEnv } from './helpers.ts';

describe('smoke workflow on the real stack', () => {
  let env: TestEnv;
  beforeAll(async () => {
    env = await createTestEnv();
    await env.startWorker();
  });
  afterAll(() => env?.close());

  it('writes a row to Postgres and delivers one message through SMTP', async () => {
    const result = await env.client.temporal.workflow.execute('smokeWorkflow', {
      taskQueue: env.config.temporal.taskQueue,
      workflowId: 'smoke-check-1',
      args: ['check-1', 'ops@example.com'],
    });
    expect(result.messageId).toBe('<smoke-check-1@mailer.local>');

    const { rows } = await env.pool.query('SELECT id, message_id, smtp_response FROM smoke_checks');
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ id: 'check-1', message_id: '<smoke-check-1@mailer.local>' });
    expect(rows[0].smtp_response).toMatch(/^250 /);

    const [message] = await receivedMessages(env.sink, 1);
    expect(env.sink.messages).toHaveLength(1);
    expect(env.sink.messages[0]!.rcptTo).toEqual(['ops@example.com']);
    expect(message!.messageId).toBe('<smoke-check-1@mailer.local>');
    expect(message!.subject).toBe('Smoke check check-1');
    expect(message!.text).toContain('check check-1');
  });
});
