// Operations on the real stack: lost emails found and resent exactly once,
// stuck emails visible while SMTP is down, cancel and retry, the reconcile
// Schedule, and the `temporal` CLI finding emails by EmailStatus.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { insertEmail } from '../src/email/store.ts';
import { payloadHash, validateSendInput } from '../src/email/validation.ts';
import { reconcileScheduleId } from '../src/schedule.ts';
import { createTestEnv, outcome, row, runMailer, type TestEnv, waitFor } from './helpers.ts';

const exec = promisify(execFile);
const FROM = 'ops@acme.example';
const delivered = (env: TestEnv, to: string) => env.sink.messages.filter((m) => m.rcptTo.includes(to)).length;

/** A record written the way send() writes it, but whose workflow never started (a crash between commit and start). */
async function recordWithoutWorkflow(env: TestEnv, to: string): Promise<string> {
  const email = validateSendInput({ from: FROM, to, subject: 'Lost', text: 'Hello' });
  return (await insertEmail(env.db, email, { payloadHash: payloadHash(email) })).id;
}

describe('lost emails', () => {
  let env: TestEnv;
  beforeAll(async () => {
    env = await createTestEnv();
  });
  afterAll(() => env?.close());

  it('lists a record with no workflow and one whose workflow was terminated, and reconcile delivers each exactly once', async () => {
    const neverStarted = await recordWithoutWorkflow(env, 'never@example.com');
    // No worker runs yet, so this workflow is terminated before it delivers.
    const terminated = await env.client.send({ from: FROM, to: 'terminated@example.com', subject: 'T', text: 'Hello' });
    await env.client.temporal.workflow.getHandle(terminated.workflowId).terminate('operator mistake');

    // Visibility lists the terminated run as running until it catches up with the terminate.
    const lost = await waitFor('both lost emails to be listed', async () => {
      const result = await runMailer(env, 'lost', '--older-than', '0s');
      return result.json.emails?.length >= 2 ? result : undefined;
    });
    expect(lost.code).toBe(0);
    const byId = Object.fromEntries(lost.json.emails.map((e: { id: string }) => [e.id, e]));
    expect(byId[neverStarted]).toMatchObject({ status: 'queued', workflow: 'NOT_FOUND' });
    expect(byId[terminated.id]).toMatchObject({ status: 'queued', workflow: 'TERMINATED' });

    const dry = await runMailer(env, 'reconcile', '--dry-run', '--older-than', '0s');
    expect(dry.json).toMatchObject({ dryRun: true, restarted: [] });
    expect(dry.json.lost).toHaveLength(2);

    await env.startWorker();
    // Two reconciles at once: both may start, the second joins the first.
    const [a, b] = await Promise.all([
      runMailer(env, 'reconcile', '--older-than', '0s'),
      runMailer(env, 'reconcile', '--older-than', '0s'),
    ]);
    expect(a.code).toBe(0);
    expect(b.code).toBe(0);
    for (const id of [neverStarted, terminated.id]) {
      expect(await outcome(env, `email-${id}`)).toEqual({ status: 'sent' });
    }
    expect(delivered(env, 'never@example.com')).toBe(1);
    expect(delivered(env, 'terminated@example.com')).toBe(1);
    expect((await runMailer(env, 'lost', '--older-than', '0s')).json.emails).toEqual([]);
  });

  it('finds exactly the lost ones among more unfinished emails than one visibility query covers', async () => {
    // 150 emails scheduled for tomorrow: unfinished records, each with a running workflow.
    const tomorrow = new Date(Date.now() + 24 * 3600_000);
    const scheduled = [];
    for (let i = 0; i < 150; i++) {
      scheduled.push(
        await env.client.send(
          { from: FROM, to: `later-${i}@example.com`, subject: 'Later', text: 'Hello' },
          { sendAt: tomorrow },
        ),
      );
    }
    const lostIds = [
      await recordWithoutWorkflow(env, 'lost-1@example.com'),
      await recordWithoutWorkflow(env, 'lost-2@example.com'),
    ];
    // A workflow visibility does not list yet is confirmed by a describe, so
    // no waiting for visibility here: the answer must be right at once.
    const lost = await runMailer(env, 'lost', '--older-than', '0s');
    expect(lost.code).toBe(0);
    expect(lost.json.emails.map((e: { id: string }) => e.id).sort()).toEqual([...lostIds].sort());
    expect(scheduled.every((s) => s.workflowStarted)).toBe(true);
  });
});

describe('stuck emails, cancel and retry', () => {
  let env: TestEnv;
  beforeAll(async () => {
    // Unlimited attempts, so an email keeps retrying for as long as the sink is down.
    env = await createTestEnv({ DELIVER_MAX_ATTEMPTS: '0', DELIVER_RETRY_MAX_INTERVAL: '500ms' });
    await env.startWorker();
  });
  afterAll(() => env?.close());

  it('lists an email whose delivery is being retried, with attempts and the SMTP error, until the sink is back', async () => {
    await env.sink.close();
    const sent = await env.client.send({ from: FROM, to: 'stuck@example.com', subject: 'S', text: 'Hello' });
    const stuck = await waitFor('the email to show as stuck with 2 attempts', async () => {
      const { json } = await runMailer(env, 'stuck');
      const found = json.emails.find((e: { id: string }) => e.id === sent.id);
      return found?.attempts >= 2 ? found : undefined;
    });
    expect(stuck.lastError).toContain('SmtpConnection');
    expect(stuck.link).toBe(`${env.config.temporal.uiUrl}/namespaces/default/workflows/${sent.workflowId}`);
    const status = await runMailer(env, 'status', sent.id);
    expect(status.json.workflow.state).toMatchObject({ status: 'retrying', lastErrorClass: 'SmtpConnection' });

    // The `temporal` CLI finds it by the search attribute too, once visibility has the upsert.
    const cli = inject('stack').temporalCli!;
    const query = `EmailStatus = 'retrying' AND TaskQueue = '${env.config.temporal.taskQueue}'`;
    await waitFor('the temporal CLI to list it as retrying', async () => {
      const { stdout } = await exec(cli, [
        'workflow',
        'list',
        '--address',
        env.config.temporal.address,
        '--query',
        query,
        '--output',
        'json',
      ]);
      return (JSON.parse(stdout || '[]') as { execution: { workflowId: string } }[]).some(
        (w) => w.execution.workflowId === sent.workflowId,
      );
    });

    await env.sink.listen();
    expect(await outcome(env, sent.workflowId)).toEqual({ status: 'sent' });
    expect(delivered(env, 'stuck@example.com')).toBe(1);
    const after = await runMailer(env, 'stuck');
    expect(after.json.emails.map((e: { id: string }) => e.id)).not.toContain(sent.id);
  });

  it('cancels a retrying email: cancelled, and nothing is delivered when the sink comes back', async () => {
    await env.sink.close();
    const sent = await env.client.send({ from: FROM, to: 'cancel-me@example.com', subject: 'C', text: 'Hello' });
    await waitFor('a failed attempt', async () => (await row(env, sent.id)).attempts >= 2);
    const cancelled = await runMailer(env, 'cancel', sent.id);
    expect(cancelled.json).toEqual({ id: sent.id, status: 'cancelled' });
    expect((await env.client.temporal.workflow.getHandle(sent.workflowId).describe()).status.name).toBe('CANCELLED');
    await env.sink.listen();
    // A later email goes through, so the sink is taking mail again; the cancelled one never arrives.
    const later = await env.client.send({ from: FROM, to: 'after-cancel@example.com', subject: 'A', text: 'Hello' });
    expect(await outcome(env, later.workflowId)).toEqual({ status: 'sent' });
    expect(delivered(env, 'cancel-me@example.com')).toBe(0);
    expect((await row(env, sent.id)).status).toBe('cancelled');
  });

  it('cancels a retrying email with the temporal CLI', async () => {
    await env.sink.close();
    const sent = await env.client.send({ from: FROM, to: 'cli-cancel@example.com', subject: 'C', text: 'Hello' });
    await waitFor(
      'a failed attempt',
      async () => (await row(env, sent.id)).attempts >= 1 && (await row(env, sent.id)).last_error,
    );
    const cli = inject('stack').temporalCli!;
    await exec(cli, ['workflow', 'cancel', '--address', env.config.temporal.address, '--workflow-id', sent.workflowId]);
    await outcome(env, sent.workflowId);
    await env.sink.listen();
    expect((await row(env, sent.id)).status).toBe('cancelled');
    expect(delivered(env, 'cli-cancel@example.com')).toBe(0);
  });

  it('retries a failed email: a new run under the same workflow id, delivered once', async () => {
    env.sink.replyQueue.push({ kind: 'reject', code: 550, message: '5.7.1 Temporarily blocked by policy' });
    const sent = await env.client.send({ from: FROM, to: 'retry-me@example.com', subject: 'R', text: 'Hello' });
    await outcome(env, sent.workflowId);
    expect((await row(env, sent.id)).status).toBe('failed');
    const notFailed = await runMailer(env, 'retry', '00000000-0000-4000-8000-000000000000');
    expect(notFailed.code).toBe(1);

    const retried = await runMailer(env, 'retry', sent.id);
    expect(retried.json).toMatchObject({ id: sent.id, workflowId: sent.workflowId, status: 'queued' });
    // The handle follows the latest run: the new one.
    expect(await outcome(env, sent.workflowId)).toEqual({ status: 'sent' });
    expect((await row(env, sent.id)).status).toBe('sent');
    expect(delivered(env, 'retry-me@example.com')).toBe(1);
    // Visibility has the new run's completion a moment after its result.
    const runs = await waitFor('visibility to list the completed run', async () => {
      const names = [];
      for await (const w of env.client.temporal.workflow.list({ query: `WorkflowId = '${sent.workflowId}'` }))
        names.push(w.status.name);
      return names.includes('COMPLETED') ? names : undefined;
    });
    expect(runs.sort()).toEqual(['COMPLETED', 'FAILED']);
    // A sent email cannot be retried.
    expect((await runMailer(env, 'retry', sent.id)).json.error.message).toContain('only a failed email can be retried');
  });
});

describe('reconcile Schedule', () => {
  let env: TestEnv;
  beforeAll(async () => {
    env = await createTestEnv({ RECONCILE_INTERVAL: '2s', RECONCILE_OLDER_THAN: '1s' });
  });
  afterAll(async () => {
    await env.client.temporal.schedule
      .getHandle(reconcileScheduleId(env.config.temporal.taskQueue))
      .delete()
      .catch(() => {});
    await env?.close();
  });

  it('is created once by two workers starting together, and resends a lost email on its own', async () => {
    await Promise.all([env.startWorker(), env.startWorker()]);
    // Workers create it in the background, and schedules are listed from visibility.
    const ids = await waitFor('visibility to list the Schedule', async () => {
      const found = [];
      for await (const s of env.client.temporal.schedule.list())
        if (s.scheduleId.includes(env.config.temporal.taskQueue)) found.push(s.scheduleId);
      return found.length ? found : undefined;
    });
    expect(ids).toEqual([reconcileScheduleId(env.config.temporal.taskQueue)]);

    const lostId = await recordWithoutWorkflow(env, 'scheduled-rescue@example.com');
    await waitFor('the schedule to resend the lost email', async () => (await row(env, lostId)).status === 'sent', {
      timeoutMs: 45_000,
    });
    expect(delivered(env, 'scheduled-rescue@example.com')).toBe(1);
  });
});
