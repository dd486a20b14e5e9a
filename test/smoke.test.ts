// The quickest proof that the stack works end to end: one email through the
// real pipeline (Postgres record, workflow, SMTP) with the row and the bytes checked.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestEnv, receivedMessages, row, waitFor, type TestEnv } from './helpers.ts';

describe('smoke: one email through the real stack', () => {
  let env: TestEnv;
  beforeAll(async () => {
    env = await createTestEnv();
    await env.startWorker();
  });
  afterAll(() => env?.close());

  it('records the email in Postgres, runs its workflow and delivers one message over SMTP', async () => {
    const sent = await env.client.send({
      from: 'app@example.com',
      to: ['ops@example.com'],
      subject: 'Smoke',
      text: 'It works',
    });
    expect(sent).toMatchObject({ created: true, workflowStarted: true });

    const [message] = await receivedMessages(env.sink, 1);
    expect(env.sink.messages[0]!.rcptTo).toEqual(['ops@example.com']);
    expect(message!.subject).toBe('Smoke');
    expect(message!.text?.trim()).toBe('It works');

    // The sink has the message before the sent flag is written: wait for the row itself.
    const record = await waitFor('the sent flag', async () =>
      (await row(env, sent.id))?.email_has_been_sent ? row(env, sent.id) : undefined,
    );
    expect(record).toMatchObject({ status: 'sent', attempts: 1 });
    expect(record.smtp_response).toMatch(/^250 /);
    expect(message!.messageId).toBe(record.message_id);
  });
});
