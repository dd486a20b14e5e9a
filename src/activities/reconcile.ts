// The reconcile step, run by the Temporal Schedule: restarts the workflow of
// every lost email. Returns counts and ids only (no personal data in history).
import { ApplicationFailure } from '@temporalio/activity';
import { reconcile } from '../email/lost.ts';
import type { ActivityDeps } from './deps.ts';

export function createReconcile({ db, config, temporal }: ActivityDeps) {
  return async function reconcileLost(): Promise<{ lost: number; restarted: string[]; skipped: number }> {
    if (!temporal)
      throw ApplicationFailure.nonRetryable(
        'reconcileLost needs a Temporal client in its dependencies',
        'MisconfiguredWorker',
      );
    const result = await reconcile({ db, temporal, config });
    return { lost: result.lost.length, restarted: result.restarted, skipped: result.skipped.length };
  };
}
