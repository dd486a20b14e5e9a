// Records the workflow histories that test/replay.test.ts replays: one per
// path an email can take. Run it (`npm run record-histories`) only when a
// workflow change is meant to be incompatible with running emails; otherwise
// the committed histories are the gate that catches such a change.
//
// A compatible change of shape (behind patched()) adds fixtures of the new
// shape next to the old ones, which stay:
//   npm run record-histories -- --only sent,retried-then-sent --prefix local-first-
// writes send-email-local-first-sent.json and send-email-local-first-retried-then-sent.json.
import { mkdir, writeFile } from 'node:fs/promises';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { parseArgs, promisify } from 'node:util';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { Mailer } from '../src/index.ts';
import { loadConfig } from '../src/config.ts';
import { startStack, stackEnv } from '../dev/stack/index.ts';
import { SmtpSink } from '../dev/stack/smtp-sink.ts';
import { waitFor } from '../dev/stack/wait.ts';
import { startWorker } from '../src/worker.ts';

const { values: args } = parseArgs({
  options: { only: { type: 'string' }, prefix: { type: 'string', default: '' } },
  strict: true,
});
const only = args.only?.split(',').map((s) => s.trim());
Runtime.install({ logger: new DefaultLogger('ERROR') });
const exec = promisify(execFile);
const out = path.resolve(import.meta.dirname, '../test/fixtures/histories');
const dataDir = await mkdtemp(path.join(os.tmpdir(), 'mailer-record-'));
const env = { ...process.env };
for (const name of ['TEMPORAL_ADDRESS', 'DATABASE_URL', 'SMTP_URL']) delete env[name];
const stack = await startStack({ dataDir, ephemeral: true, env, log: () => {} });
const sink = await SmtpSink.start({ dir: path.join(dataDir, 'sink') });
const config = loadConfig({
  ...stackEnv(stack.info),
  SMTP_URL: sink.url,
  DELIVER_RETRY_INITIAL_INTERVAL: '200ms',
  DELIVER_MAX_ATTEMPTS: '3',
});
const worker = await startWorker({ config });
const mailer = await Mailer.connect({ config });
const from = 'app@acme.example';
try {
  await mkdir(out, { recursive: true });
  const scenarios: Record<string, () => Promise<string>> = {
    sent: async () => (await mailer.send({ from, to: 'a@example.com', subject: 's', text: 't' })).workflowId,
    'retried-then-sent': async () => {
      sink.replyQueue.push({ kind: 'reject', code: 421, message: 'try later' });
      return (await mailer.send({ from, to: 'b@example.com', subject: 's', text: 't' })).workflowId;
    },
    'failed-permanent': async () => {
      sink.replyQueue.push({ kind: 'reject', code: 550, message: 'no such user' });
      return (await mailer.send({ from, to: 'c@example.com', subject: 's', text: 't' })).workflowId;
    },
    blocked: async () => {
      await mailer.pool.query(
        "INSERT INTO mailer.recipient_rules (kind, pattern) VALUES ('deny', '@blocked.example') ON CONFLICT DO NOTHING",
      );
      return (await mailer.send({ from, to: 'd@blocked.example', subject: 's', text: 't' })).workflowId;
    },
    'scheduled-then-cancelled': async () => {
      const sent = await mailer.send(
        { from, to: 'e@example.com', subject: 's', text: 't' },
        { sendAt: new Date(Date.now() + 3_600_000) },
      );
      // The history to record has the timer started before the cancel: wait for the workflow to sleep until send_at.
      await waitFor(
        'the workflow to sleep until send_at',
        async () => (await mailer.status(sent.id)).workflow?.state?.step === 'scheduled',
      );
      await mailer.cancel(sent.id);
      return sent.workflowId;
    },
    'scheduled-then-sent': async () =>
      (
        await mailer.send(
          { from, to: 'f@example.com', subject: 's', text: 't' },
          { sendAt: new Date(Date.now() + 1500) },
        )
      ).workflowId,
  };
  for (const name of only ?? Object.keys(scenarios)) {
    const run = scenarios[name];
    if (!run) throw new Error(`--only: no scenario "${name}" (known: ${Object.keys(scenarios).join(', ')})`);
    const workflowId = await run();
    const handle = mailer.temporal.workflow.getHandle(workflowId);
    await handle.result().catch(() => undefined);
    // The CLI writes the standard JSON form that historyFromJSON reads back.
    const { stdout } = await exec(
      stack.info.temporalCli!,
      ['workflow', 'show', '--address', stack.info.temporalAddress, '--workflow-id', workflowId, '--output', 'json'],
      { maxBuffer: 64 * 1024 * 1024 },
    );
    await writeFile(path.join(out, `send-email-${args.prefix}${name}.json`), stdout);
    console.log(`recorded ${name}: ${(JSON.parse(stdout) as { events: unknown[] }).events.length} events`);
  }
} finally {
  await mailer.close();
  await worker.shutdown();
  await sink.close();
  await stack.stop();
  await stack.postgres?.destroy();
  await rm(dataDir, { recursive: true, force: true });
}
