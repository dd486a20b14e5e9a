// An email's place in the delivery queue. Temporal's task-queue Priority
// (keys 1 highest … 5 lowest, 3 by default) orders the backlog in front of
// EMAIL_RATE_LIMIT: a `high` email submitted behind thousands of `normal` ones
// is handed to the next free slot. Fairness (a key such as a tenant id, with a
// weight) shares the slots of one priority between keys, so one tenant's flood
// does not starve the others. The workflow is started with them and its
// activities inherit them (deliver included); the record keeps them so that
// every later start (reconcile, retry) uses the same.
import type { Priority } from '@temporalio/common';
import { ValidationError } from '../errors.ts';

/** The scale `send()` takes, and the Temporal priority key of each level. */
export const PRIORITY_KEYS = { high: 1, normal: 3, low: 5 } as const;
export type EmailPriority = keyof typeof PRIORITY_KEYS;

export interface PriorityOptions {
  priority?: EmailPriority;
  fairnessKey?: string;
  fairnessWeight?: number;
}

/** The record's columns (migrations/0003_events.sql). */
export interface PriorityColumns {
  priority_key: number | null;
  fairness_key: string | null;
  fairness_weight: number | null;
}

export const PRIORITY_COLUMNS = 'priority_key, fairness_key, fairness_weight';

export function validatePriority(options: PriorityOptions): PriorityColumns {
  const { priority, fairnessKey, fairnessWeight } = options;
  if (priority !== undefined && !Object.hasOwn(PRIORITY_KEYS, priority)) {
    throw new ValidationError('priority', `must be one of ${Object.keys(PRIORITY_KEYS).join(', ')}`);
  }
  if (fairnessKey !== undefined) {
    if (typeof fairnessKey !== 'string' || !fairnessKey || Buffer.byteLength(fairnessKey) > 64) {
      throw new ValidationError('fairnessKey', 'must be a non-empty string of at most 64 bytes');
    }
    // It lands in Temporal's task metadata: an id (tenant, plan), never an address.
    if (/[\u0000-\u001f\u007f]|@/.test(fairnessKey))
      throw new ValidationError(
        'fairnessKey',
        'must be an id such as a tenant id: no control characters, no email address',
      );
  }
  if (
    fairnessWeight !== undefined &&
    !(typeof fairnessWeight === 'number' && fairnessWeight >= 0.001 && fairnessWeight <= 1000)
  ) {
    throw new ValidationError('fairnessWeight', 'must be a number from 0.001 to 1000');
  }
  if (fairnessWeight !== undefined && fairnessKey === undefined)
    throw new ValidationError('fairnessWeight', 'needs a fairnessKey');
  return {
    // `normal` is the server's default: stored as NULL, so the default stays the server's.
    priority_key: priority === undefined || priority === 'normal' ? null : PRIORITY_KEYS[priority],
    fairness_key: fairnessKey ?? null,
    fairness_weight: fairnessWeight ?? null,
  };
}

/** What the workflow start carries; undefined when the email has no priority of its own. */
export function temporalPriority(columns: PriorityColumns | undefined): Priority | undefined {
  if (!columns) return undefined;
  const p: Priority = {
    ...(columns.priority_key !== null ? { priorityKey: columns.priority_key } : {}),
    ...(columns.fairness_key !== null ? { fairnessKey: columns.fairness_key } : {}),
    ...(columns.fairness_weight !== null ? { fairnessWeight: columns.fairness_weight } : {}),
  };
  return Object.keys(p).length ? p : undefined;
}
