import { createBlockCheck } from './block-check.ts';
import { createDeliver } from './deliver.ts';
import type { ActivityDeps } from './deps.ts';
import { createPrepare } from './prepare.ts';
import { createPurge } from './purge.ts';
import { createReconcile } from './reconcile.ts';
import { createRecordActivities } from './record.ts';
import { createWebhookActivities } from './webhooks.ts';

export type { ActivityDeps } from './deps.ts';
export type { BlockCheckResult } from './block-check.ts';
export type { FirstAttempt, PrepareResult } from './prepare.ts';
export type { DeliverResult } from './deliver.ts';
export type { PurgeResult } from '../email/retention.ts';
export type { PumpResult } from './webhooks.ts';

/** Every activity of the service, over dependencies the worker builds once. */
export function createActivities(deps: ActivityDeps) {
  return {
    blockCheck: createBlockCheck(deps),
    prepare: createPrepare(deps),
    deliver: createDeliver(deps),
    ...createRecordActivities(deps),
    reconcileLost: createReconcile(deps),
    purgeExpired: createPurge(deps),
    ...createWebhookActivities(deps),
  };
}

export type Activities = ReturnType<typeof createActivities>;
