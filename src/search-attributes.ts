// The custom search attributes this service upserts on every email workflow.
// One list, so the local stack registers exactly what the workflows use, and
// `mailer setup` registers the same on an existing cluster.
// Search attributes are stored in plain text by Temporal: never an address,
// subject or body here, only states, counts and error classes.
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import type { EmailStatus as RecordStatus } from './email/status.ts';

/**
 * The record's statuses, plus `retrying` (a delivery attempt failed and
 * another is due) and `held` (an attempt may have been delivered; waiting for
 * an operator's `mailer resolve`).
 */
export type WorkflowEmailStatus = RecordStatus | 'retrying' | 'held';

/** A search attribute key, named through the SDK's public exports (its interface is not exported by name). */
export type SearchAttributeKeyOf<T extends SearchAttributeType> = ReturnType<typeof defineSearchAttributeKey<T>>;

export const EmailStatus: SearchAttributeKeyOf<typeof SearchAttributeType.KEYWORD> = defineSearchAttributeKey(
  'EmailStatus',
  SearchAttributeType.KEYWORD,
);
/** Delivery attempts that failed so far (set while retrying). */
export const EmailAttempt: SearchAttributeKeyOf<typeof SearchAttributeType.INT> = defineSearchAttributeKey(
  'EmailAttempt',
  SearchAttributeType.INT,
);
/** Class of the last delivery failure: SmtpTemporary, SmtpConnection, ActivityTimeout, … */
export const EmailErrorClass: SearchAttributeKeyOf<typeof SearchAttributeType.KEYWORD> = defineSearchAttributeKey(
  'EmailErrorClass',
  SearchAttributeType.KEYWORD,
);

export const SEARCH_ATTRIBUTES: readonly SearchAttributeKeyOf<SearchAttributeType>[] = [
  EmailStatus,
  EmailAttempt,
  EmailErrorClass,
];

/** The type names the `temporal` CLI uses for `--search-attribute Name=Type`. */
export const CLI_TYPE_NAMES: Record<string, string> = {
  [SearchAttributeType.TEXT]: 'Text',
  [SearchAttributeType.KEYWORD]: 'Keyword',
  [SearchAttributeType.INT]: 'Int',
  [SearchAttributeType.DOUBLE]: 'Double',
  [SearchAttributeType.BOOL]: 'Bool',
  [SearchAttributeType.DATETIME]: 'Datetime',
  [SearchAttributeType.KEYWORD_LIST]: 'KeywordList',
};

export function searchAttributeCliArgs(): string[] {
  return SEARCH_ATTRIBUTES.flatMap((key) => ['--search-attribute', `${key.name}=${CLI_TYPE_NAMES[key.type]}`]);
}
