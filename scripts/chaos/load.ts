// The load: this process plays the backend that calls send() (and cancel())
// through every fault, then waits for every accepted email to become final.
import { FINAL_STATUSES } from '../../src/email/store.ts';
import { IdempotencyConflictError, ValidationError } from '../../src/index.ts';
import { StopWaiting, waitFor } from '../../dev/stack/wait.ts';
import { type ChaosRun, errorText, sleep } from './context.ts';
import { FROM, type PlannedEmail } from './plan.ts';

/** What a real backend does: the same call with the same key until it succeeds. */
async function submit(run: ChaosRun, email: PlannedEmail, giveUpAt: number): Promise<void> {
  const { mailer } = run.live;
  const seed = run.options.seed;
  const sendAt = email.sendAfterMs ? new Date(Date.now() + email.sendAfterMs) : undefined;
  const input = {
    from: FROM,
    to: [email.to],
    subject: `chaos ${seed} #${email.i} (${email.kind})`,
    text: `Chaos run ${seed}, email ${email.i}.`,
  };
  for (;;) {
    try {
      const result = await mailer.send(input, { idempotencyKey: email.key, ...(sendAt ? { sendAt } : {}) });
      email.id = result.id;
      email.workflowStarted = result.workflowStarted;
      if (!result.workflowStarted) run.stats.workflowStartDeferred++;
      break;
    } catch (err) {
      if (err instanceof ValidationError || err instanceof IdempotencyConflictError) {
        email.submitError = `${err.name}: ${err.message}`;
        run.stats.harnessErrors.push(`email ${email.i}: ${email.submitError}`);
        return;
      }
      run.stats.sendErrors++;
      if (Date.now() > giveUpAt || run.interrupted) {
        email.submitError = errorText(err);
        return;
      }
      await sleep(500);
    }
  }
  if (email.kind === 'cancelled') {
    for (;;) {
      try {
        email.cancelResult = (await mailer.cancel(email.id!)).status;
        break;
      } catch (err) {
        run.stats.cancelErrors++;
        if (Date.now() > giveUpAt || run.interrupted) {
          email.cancelResult = `error: ${errorText(err)}`;
          break;
        }
        await sleep(500);
      }
    }
  }
  run.lastSubmitAt = Date.now();
}

/** Submits every planned email at its time from `start`, each retried on its own; resolves when all are settled. */
export async function submitAll(run: ChaosRun, start: number): Promise<void> {
  const giveUpAt = start + run.options.durationMs + run.options.settleMs;
  const tasks: Promise<void>[] = [];
  for (const email of run.emails) {
    const wait = start + email.atMs - Date.now();
    if (wait > 0) await sleep(wait);
    if (run.interrupted) break;
    tasks.push(submit(run, email, giveUpAt));
  }
  await Promise.all(tasks);
}

async function statusCounts(run: ChaosRun, ids: string[]): Promise<Record<string, number>> {
  const { rows } = await run.live.mailer.pool.query<{ status: string; n: number }>(
    'SELECT status, count(*)::int AS n FROM mailer.emails WHERE id = ANY($1::uuid[]) GROUP BY status ORDER BY status',
    [ids],
  );
  return Object.fromEntries(rows.map((r) => [r.status, r.n]));
}

/**
 * Waits until every one of `ids` has a final status in Postgres, or the
 * deadline; true when they all have. A failing status query (Postgres just
 * relaunched) is logged and asked again.
 */
export async function settle(run: ChaosRun, ids: string[], deadline: number): Promise<boolean> {
  let lastLog = 0;
  const final = FINAL_STATUSES as readonly string[];
  try {
    await waitFor(
      'every email to reach a final status',
      async () => {
        if (run.interrupted) throw new StopWaiting('interrupted');
        let counts: Record<string, number>;
        try {
          counts = await statusCounts(run, ids);
        } catch (err) {
          run.log(`   status query failed: ${errorText(err)}`);
          return false;
        }
        const open = Object.entries(counts)
          .filter(([s]) => !final.includes(s))
          .reduce((n, [, c]) => n + c, 0);
        if (open === 0) return true;
        if (Date.now() - lastLog >= 10_000) {
          lastLog = Date.now();
          run.log(
            `   settling: ${Object.entries(counts)
              .map(([s, n]) => `${s} ${n}`)
              .join(', ')}`,
          );
        }
        return false;
      },
      { timeoutMs: Math.max(0, deadline - Date.now()), intervalMs: 1000 },
    );
    return true;
  } catch {
    // The deadline passed or the run was interrupted: the scoreboard counts what is still open.
    return false;
  }
}
