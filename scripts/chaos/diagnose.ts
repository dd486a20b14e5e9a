// A failed run keeps what is needed to understand each bad email, gathered
// while the stack still runs: its record, the copies the sink received, its
// workflow's description and history, and every server's and worker's log.
import { execFile } from 'node:child_process';
import { copyFile, mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { type ChaosRun, errorText } from './context.ts';
import { type BadEmail, messageIdOf } from './scoreboard.ts';

const exec = promisify(execFile);

/** Writes the diagnostics folder (report.txt and the logs), prints the start of the report, returns the folder. */
export async function diagnose(run: ChaosRun, bad: BadEmail[]): Promise<string> {
  const { stack, mailer, smtp } = run.live;
  const seed = run.options.seed;
  const dir = await mkdtemp(path.join(os.tmpdir(), `mailer-chaos-${seed}-`));
  const lines: string[] = [`chaos run seed ${seed}: ${bad.length} bad email(s)`, ''];
  for (const b of bad.slice(0, 10)) {
    lines.push(`== email #${b.i} (${b.kind}) ${b.id}: ${b.problem}`);
    try {
      const { rows } = await mailer.pool.query(
        `SELECT id, status, email_has_been_sent, sent_at, attempts, last_error, smtp_response, possibly_delivered, uncertain_resends,
                held_since, delivery_claim, delivery_claimed_at, send_at, created_on, updated_at, message_id, idempotency_key, block_reason
           FROM mailer.emails WHERE id = $1`,
        [b.id],
      );
      lines.push(`record: ${JSON.stringify(rows[0], null, 2)}`);
      const mid = rows[0]?.message_id as string | undefined;
      const received = smtp.messages
        .filter((m) => mid && messageIdOf(m.raw) === mid)
        .map((m) => `#${m.seq} at ${m.receivedAt}`);
      lines.push(`received by the sink: ${received.length ? received.join(', ') : 'never'}`);
    } catch (err) {
      lines.push(`record: (query failed: ${errorText(err)})`);
    }
    for (const sub of ['describe', 'show']) {
      try {
        const { stdout } = await exec(
          stack.info.temporalCli ?? 'temporal',
          [
            'workflow',
            sub,
            '-w',
            `email-${b.id}`,
            '--address',
            stack.info.temporalAddress,
            '--namespace',
            stack.info.temporalNamespace,
          ],
          { timeout: 30_000, maxBuffer: 16 * 2 ** 20 },
        );
        lines.push(`temporal workflow ${sub}:`, stdout.trimEnd());
      } catch (err) {
        lines.push(
          `temporal workflow ${sub}: failed: ${(err as { stderr?: string }).stderr?.trim() || errorText(err)}`,
        );
      }
    }
    lines.push('');
  }
  await writeFile(path.join(dir, 'report.txt'), `${lines.join('\n')}\n`);
  for (const file of [path.join(stack.info.dataDir, 'temporal.log'), path.join(stack.info.dataDir, 'postgres.log')]) {
    await copyFile(file, path.join(dir, path.basename(file))).catch(() => {});
  }
  if (run.workerLogDir) await exec('cp', ['-r', run.workerLogDir, path.join(dir, 'workers')]).catch(() => {});
  console.log(lines.slice(0, 200).join('\n'));
  return dir;
}
