// The custom search attributes this service upserts on every email workflow.
// One list, so the local stack registers exactly what the workflows use, and
// `mailer setup` can register the same on an existing cluster.
// Search attributes are stored in plain text by Temporal: never an address,
// subject or body here, only states and counts.
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

export const EmailStatus = defineSearchAttributeKey('EmailStatus', SearchAttributeType.KEYWORD);

export const SEARCH_ATTRIBUTES = [EmailStatus] as const;

/** The type names the `temporal` CLI uses for `--search-attribute Name=Type`. */
const CLI_TYPE_NAMES: Record<string, string> = {
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
