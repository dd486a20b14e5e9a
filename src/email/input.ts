// What `send()` accepts, as types: the compile-time half of the contract whose
// run-time half is src/email/validation.ts (which still checks everything,
// since JavaScript callers and the SQL entry point have no compiler).

/** `"a@example.com"`, `"Ann <a@example.com>"`, or `{ name, address }`. */
export type AddressInput = string | { name?: string; address: string };
/** One address or a non-empty list of them. */
export type AddressListInput = AddressInput | readonly AddressInput[];

/** Attachments are bytes, never paths or URLs: a Buffer/Uint8Array, or a string in the given encoding (default utf8). */
export interface AttachmentInput {
  filename: string;
  content: Uint8Array | string;
  encoding?: 'base64' | 'utf8';
  /** A MIME type without parameters; default application/octet-stream. */
  contentType?: string;
  /** Content-ID, for inline images referenced as `cid:…` in the HTML. */
  cid?: string;
}

/** The only headers a caller may set (names are case-insensitive at run time). */
export type AllowedHeaderName =
  | 'List-Unsubscribe'
  | 'List-Unsubscribe-Post'
  | 'List-Id'
  | 'X-Entity-Ref-ID'
  | 'X-Campaign'
  | 'X-Tag'
  | 'Auto-Submitted'
  | 'Precedence'
  | 'Importance';

export interface EmailInput {
  from: AddressInput;
  to: AddressListInput;
  cc?: AddressListInput;
  bcc?: AddressListInput;
  replyTo?: AddressListInput;
  subject: string;
  /** At least one of text and html. */
  text?: string;
  html?: string;
  headers?: Partial<Record<AllowedHeaderName | Lowercase<AllowedHeaderName>, string>>;
  attachments?: readonly AttachmentInput[];
}
