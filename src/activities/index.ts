import { createBlockCheck } from './block-check.ts';
import { createDeliver } from './deliver.ts';
import type { ActivityDeps } from './deps.ts';
import { createPrepare } from './prepare.ts';
import { createReconcile } from './reconcile.ts';
import { createRecordActivities } from './record.ts';
import { createSmokeActivities } from './smoke.ts';

export type { ActivityDeps } from './deps.ts';
export type { BlockCheckResult } from './block-check.ts';
export type { FirstAttempt, PrepareResult } from './prepare.ts';
export type { DeliverResult } from './deliver.ts';

/** Every activity of the service, over dependencies the worker builds once. */
export function createActivities(deps: ActivityDeps) {
  return {
    blockCheck: createBlockCheck(deps),
    prepare: createPrepare(deps),
    deliver: createDeliver(deps),
    ...createRecordActivities(deps),
    reconcileLost: createReconcile(deps),
    ...createSmokeActivities(deps),
  };
}

export type Activities = ReturnType<typeof createActivities>;
