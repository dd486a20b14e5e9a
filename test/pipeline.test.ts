// The email pipeline end to end, on the real stack: Postgres record first, one
// workflow per email, blockCheck → prepare → deliver over real SMTP.
import { simpleParser } from 'mailparser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IdempotencyConflictError } from '../src/index.ts';
import { createTestEnv, outcome, receivedMessages, row, type TestEnv, waitFor } from './helpers.ts';

const FROM = { name: 'Acme Billing', address: 'billing@acme.example' };
const PDF = Buffer.from('%PDF-1.4\n' + 'x'.repeat(3000) + '\n\u0000\u00ff binary tail', 'latin1');
const LOGO = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 1, 2, 3, 255]);

describe('email pipeline', () => {
  let env: TestEnv;
  beforeAll(async () => {
    env = await createTestEnv();
    await env.startWorker();
  });
  afterAll(() => env?.close());

  it('delivers the message with the right envelope, headers, bodies and byte-identical attachments', async () => {
    const sent = await env.client.send({
      from: FROM,
      to: ['Ann Example <ann@example.com>'],
      cc: 'carl@example.org',
      bcc: ['audit@acme.example'],
      replyTo: 'support@acme.example',
      subject: 'Your invoice #42 — thank you',
      text: 'Invoice attached.\nRegards',
      html: '<p>Invoice attached.</p><img src="cid:logo@acme">',
      headers: { 'X-Entity-Ref-ID': 'invoice-42' },
      attachments: [
        { filename: 'invoice-42.pdf', content: PDF, contentType: 'application/pdf' },
        {
          filename: 'logo.png',
          content: LOGO.toString('base64'),
          encoding: 'base64',
          contentType: 'image/png',
          cid: 'logo@acme',
        },
      ],
    });
    expect(sent.created).toBe(true);
    expect(sent.workflowStarted).toBe(true);
    expect(sent.workflowId).toBe(`email-${sent.id}`);
    expect(await outcome(env, sent.workflowId)).toEqual({ status: 'sent' });

    const record = await row(env, sent.id);
    expect(record).toMatchObject({ status: 'sent', email_has_been_sent: true, attempts: 1, last_error: null });
    expect(record.sent_at).toBeInstanceOf(Date);
    expect(record.smtp_response).toMatch(/^250 /);

    const [message] = await receivedMessages(env.sink, 1);
    const envelope = env.sink.messages[0]!;
    // deliver records the size of what it sent (prepare writes nothing): the
    // DATA stream, i.e. the message plus its terminating ".\r\n" line.
    expect(record.mime_size).toBe(envelope.raw.length + 3);
    expect(envelope.mailFrom).toBe('billing@acme.example');
    expect(envelope.rcptTo.sort()).toEqual(['ann@example.com', 'audit@acme.example', 'carl@example.org']);
    expect(message!.messageId).toBe(record.message_id);
    expect(record.message_id).toBe(`<${sent.id}@acme.example>`);
    expect(message!.subject).toBe('Your invoice #42 — thank you');
    expect(message!.from?.text).toBe('"Acme Billing" <billing@acme.example>');
    expect(message!.headers.get('x-entity-ref-id')).toBe('invoice-42');
    expect(message!.headers.has('bcc')).toBe(false); // Bcc travels in the envelope only
    expect(message!.text?.trim()).toBe('Invoice attached.\nRegards');
    expect(message!.html).toContain('<p>Invoice attached.</p>');
    expect(message!.attachments.map((a) => a.filename).sort()).toEqual(['invoice-42.pdf', 'logo.png']);
    const pdf = message!.attachments.find((a) => a.filename === 'invoice-42.pdf');
    const logo = message!.attachments.find((a) => a.filename === 'logo.png');
    expect(pdf!.contentType).toBe('application/pdf');
    expect(pdf!.content.equals(PDF)).toBe(true);
    expect(logo!.contentId).toBe('<logo@acme>');
    expect(logo!.content.equals(LOGO)).toBe(true);

    // Only ids travel through Temporal: no address, subject or body text in the history.
    const history = JSON.stringify(await env.client.temporal.workflow.getHandle(sent.workflowId).fetchHistory());
    for (const secret of [
      'ann@example.com',
      'acme.example',
      'invoice #42',
      'Invoice attached',
      PDF.toString('base64').slice(0, 40),
    ]) {
      expect(history).not.toContain(secret);
    }
  });

  it('returns the same email for the same idempotency key, and refuses another payload under it', async () => {
    const input = { from: FROM, to: 'idem@example.com', subject: 'Welcome', text: 'Hello' };
    const first = await env.client.send(input, { idempotencyKey: 'welcome-idem-1' });
    const second = await env.client.send(input, { idempotencyKey: 'welcome-idem-1' });
    expect(second).toMatchObject({ id: first.id, workflowId: first.workflowId, created: false });
    expect(await outcome(env, first.workflowId)).toEqual({ status: 'sent' });
    // After completion too: still the same email, no new run.
    const third = await env.client.send(input, { idempotencyKey: 'welcome-idem-1' });
    expect(third).toMatchObject({ id: first.id, created: false });

    const error = await env.client
      .send({ ...input, text: 'Hello again' }, { idempotencyKey: 'welcome-idem-1' })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(IdempotencyConflictError);
    expect((error as IdempotencyConflictError).field).toBe('idempotencyKey');
    expect((error as IdempotencyConflictError).code).toBe('IDEMPOTENCY_CONFLICT');
    // The key's owner is someone else's email: its id is not disclosed.
    expect((error as Error).message).not.toContain(first.id);

    const { rows } = await env.pool.query(
      "SELECT count(*)::int AS n FROM mailer.emails WHERE idempotency_key = 'welcome-idem-1'",
    );
    expect(rows[0].n).toBe(1);
    // Visibility has the run's completion a moment after its result.
    const runs = await waitFor('visibility to list the completed run', async () => {
      const found = [];
      for await (const w of env.client.temporal.workflow.list({ query: `WorkflowId = '${first.workflowId}'` }))
        found.push(w.status.name);
      return found.includes('COMPLETED') ? found : undefined;
    });
    expect(runs).toEqual(['COMPLETED']);
    await waitFor('the message', () => env.sink.messages.some((m) => m.rcptTo.includes('idem@example.com')));
    expect(env.sink.messages.filter((m) => m.rcptTo.includes('idem@example.com'))).toHaveLength(1);
  });

  it('survives an SMTP server answering 421 and then refusing connections: delivered once, attempts recorded', async () => {
    env.sink.replyQueue.push({ kind: 'reject', code: 421, message: '4.3.2 Service not available, closing channel' });
    const sent = await env.client.send({ from: FROM, to: 'flaky@example.com', subject: 'Flaky', text: 'Hi' });
    await waitFor('the 421 to be recorded', async () => (await row(env, sent.id)).last_error?.includes('421'), {
      timeoutMs: 20_000,
    });
    await env.sink.close();
    await waitFor(
      'an attempt against the closed port',
      async () => (await row(env, sent.id)).last_error?.includes('SmtpConnection'),
      { timeoutMs: 20_000 },
    );
    await env.sink.listen();
    expect(await outcome(env, sent.workflowId)).toEqual({ status: 'sent' });
    const record = await row(env, sent.id);
    expect(record.status).toBe('sent');
    expect(record.attempts).toBeGreaterThanOrEqual(3);
    expect(env.sink.messages.filter((m) => m.rcptTo.includes('flaky@example.com'))).toHaveLength(1);
  });

  it('fails after one attempt on a permanent 550, keeping the reply', async () => {
    env.sink.replyQueue.push({ kind: 'reject', code: 550, message: '5.1.1 Mailbox unavailable' });
    const before = env.sink.messages.length;
    const sent = await env.client.send({ from: FROM, to: 'gone@example.com', subject: 'Gone', text: 'Hi' });
    const result = await outcome(env, sent.workflowId);
    expect(result.failure?.message).toMatch(/Workflow execution failed/);
    const record = await row(env, sent.id);
    expect(record).toMatchObject({ status: 'failed', attempts: 1, email_has_been_sent: false });
    expect(record.smtp_response).toContain('550');
    expect(record.last_error).toContain('SmtpRejected');
    expect(env.sink.messages.length).toBe(before);
  });

  it('waits for send_at, and a cancel before it means nothing is ever sent', async () => {
    const later = new Date(Date.now() + 60 * 60 * 1000);
    const sent = await env.client.send(
      { from: FROM, to: 'later@example.com', subject: 'Later', text: 'Hi' },
      { sendAt: later },
    );
    await waitFor(
      'the workflow to sleep until send_at',
      async () => (await env.client.status(sent.id)).workflow?.state?.step === 'scheduled',
    );
    expect((await row(env, sent.id)).status).toBe('scheduled');
    expect(await env.client.cancel(sent.id)).toEqual({ id: sent.id, status: 'cancelled' });
    const description = await env.client.temporal.workflow.getHandle(sent.workflowId).describe();
    expect(description.status.name).toBe('CANCELLED');
    expect(env.sink.messages.some((m) => m.rcptTo.includes('later@example.com'))).toBe(false);
  });

  it('delivers a scheduled email no earlier than its send_at', async () => {
    const at = new Date(Date.now() + 3000);
    const sent = await env.client.send(
      { from: FROM, to: 'soon@example.com', subject: 'Soon', text: 'Hi' },
      { sendAt: at.toISOString() },
    );
    expect(await outcome(env, sent.workflowId)).toEqual({ status: 'sent' });
    const message = env.sink.messages.find((m) => m.rcptTo.includes('soon@example.com'))!;
    expect(new Date(message.receivedAt).getTime()).toBeGreaterThanOrEqual(at.getTime());
    expect((await simpleParser(message.raw)).subject).toBe('Soon');
  });
});
