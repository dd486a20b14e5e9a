// Phase 1, the SMTP limit: nodemailer's pooled transport (createSmtpTransport)
// straight into the sink, from a child process. What the pipeline could reach
// if SMTP were its only cost.
import { loadConfig } from '../../src/config.ts';
import { type BenchContext, FROM, HTML, log, TEXT } from '../context.ts';
import { spawnChild } from '../children.ts';
import type { SmtpResult } from '../results.ts';
import { round } from '../stats.ts';

export async function smtpPhase(ctx: BenchContext): Promise<SmtpResult> {
  const { options, results, baseEnv } = ctx;
  const messages = options.smtpMessages;
  log(
    `smtp: ${messages} messages through a pooled nodemailer transport (pool ${loadConfig({ ...baseEnv }).smtp.poolSize}), ${options.smtpInFlight} in flight, from a child process…`,
  );
  const child = await spawnChild('smtp client', 'smtp', {
    ...baseEnv,
    BENCH_SMTP_MESSAGES: String(messages),
    BENCH_SMTP_IN_FLIGHT: String(options.smtpInFlight),
    BENCH_SMTP_MESSAGE: JSON.stringify({ from: FROM, subject: 'Bench smtp', text: TEXT, html: HTML }),
  });
  const done = await child.waitFor('smtp-done', 600_000);
  await child.stop();
  if (done.failed) results.notes.push(`smtp: ${done.failed} of ${messages} sends failed (first: ${done.firstError})`);
  const result: SmtpResult = {
    messages,
    inFlight: options.smtpInFlight,
    poolSize: loadConfig({ ...baseEnv }).smtp.poolSize,
    failed: done.failed,
    elapsedSeconds: round(done.elapsedMs / 1000, 3),
    perSecond: round(done.sent / (done.elapsedMs / 1000), 1),
  };
  log(`smtp: ${result.perSecond} messages/s`);
  return result;
}
