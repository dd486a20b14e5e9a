// Dangerous content is data, never an instruction: nodemailer must not read a
// local file or open a connection other than to the SMTP server because of
// what a user put in an email. And a flood of sends, valid and invalid mixed,
// leaves the service serving.
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AttachmentInput, FINAL_STATUSES, ValidationError } from '../src/index.ts';
import { createTestEnv, outcome, type TestEnv, waitFor } from './helpers.ts';

describe('hostile input', () => {
  let env: TestEnv;
  let trap: http.Server;
  let trapHits = 0;
  beforeAll(async () => {
    env = await createTestEnv();
    await env.startWorker();
    trap = http.createServer((_req, res) => {
      trapHits++;
      res.end('fetched');
    });
    await new Promise<void>((r) => trap.listen(0, '127.0.0.1', r));
  });
  afterAll(async () => {
    trap?.close();
    await env?.close();
  });

  it('delivers file: and http: references as plain text, fetching and reading nothing', async () => {
    const url = `http://127.0.0.1:${(trap.address() as { port: number }).port}/beacon`;
    const sent = await env.client.send({
      from: 'app@acme.example',
      to: 'ann@example.com',
      subject: 'file:///etc/passwd',
      text: `see file:///etc/passwd and ${url}`,
      html: `<img src="file:///etc/passwd"><img src="${url}"><a href="${url}">x</a>`,
      attachments: [
        // Explicitly data: the string is the content, not a path.
        { filename: 'passwd.txt', content: '/etc/passwd', encoding: 'utf8' },
        { filename: 'link.txt', content: url, encoding: 'utf8' },
      ],
    });
    expect(await outcome(env, sent.workflowId)).toEqual({ status: 'sent' });
    const raw = env.sink.messages.find((m) => m.rcptTo.includes('ann@example.com'))!.raw.toString();
    expect(raw).not.toMatch(/root:.*:0:0:/); // /etc/passwd was not read
    expect(raw).not.toContain('fetched');
    expect(trapHits).toBe(0);
  });

  it('refuses an attachment given as a path or URL before anything is stored', async () => {
    for (const attachment of [
      { filename: 'p', path: '/etc/passwd' },
      { filename: 'h', href: 'http://127.0.0.1/' },
      { filename: 'c', content: 'file:///etc/passwd' },
    ]) {
      await expect(
        env.client.send({
          from: 'app@acme.example',
          to: 'ann@example.com',
          subject: 's',
          text: 't',
          attachments: [attachment as AttachmentInput],
        }),
      ).rejects.toBeInstanceOf(ValidationError);
    }
    expect(trapHits).toBe(0);
  });

  it('keeps serving through a flood of 300 sends, a third of them invalid', async () => {
    const results = await Promise.allSettled(
      Array.from({ length: 300 }, (_, i) =>
        env.client.send(
          i % 3 === 0
            ? { from: 'app@acme.example', to: `bad\r\n${i}@example.com`, subject: 's', text: 't' }
            : { from: 'app@acme.example', to: `flood-${i}@example.com`, subject: `n${i}`, text: 't' },
        ),
      ),
    );
    const refused = results.filter((r) => r.status === 'rejected');
    expect(refused).toHaveLength(100);
    for (const r of refused) expect((r as PromiseRejectedResult).reason).toBeInstanceOf(ValidationError);
    // The record, not the sink, is waited for: the sink has a message before its sent flag is written.
    const rows = await waitFor(
      'all 200 valid emails final',
      async () => {
        const { rows } = await env.pool.query(
          "SELECT status, count(*)::int AS n FROM mailer.emails WHERE subject LIKE 'n%' GROUP BY status",
        );
        return rows.every((r) => FINAL_STATUSES.includes(r.status)) && rows.reduce((n, r) => n + r.n, 0) === 200
          ? rows
          : undefined;
      },
      { timeoutMs: 60_000 },
    );
    expect(rows).toEqual([{ status: 'sent', n: 200 }]);
    expect(env.sink.messages.filter((m) => m.rcptTo[0]?.startsWith('flood-'))).toHaveLength(200);
    // And a normal email right after.
    const after = await env.client.send({
      from: 'app@acme.example',
      to: 'after@example.com',
      subject: 'after',
      text: 't',
    });
    expect(await outcome(env, after.workflowId)).toEqual({ status: 'sent' });
  });
});
