// What text may hold, for send()'s validation: one rule per kind of value,
// applied the same way to every field of that kind. Values with a problem are
// refused, never rewritten, so what is stored is what the caller gave.
//   line: subject, display names, filenames, extra header values
//   body: text and html

// Lone surrogates are what undecodable bytes become; they cannot be encoded
// into a message, so they are refused rather than silently replaced.
export const LONE_SURROGATE = /\p{Cs}/u;
// In a single line these change what a reader sees without being seen: C1
// controls, the Unicode line and paragraph separators, and the bidi
// embeddings, overrides and isolates that show "invoice\u202Efdp.exe" as
// "invoiceexe.pdf". The marks (U+200E, U+200F) that right-to-left text needs
// stay allowed, and bodies may hold all of them.
const INVISIBLE_IN_A_LINE = /[\u0080-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;
// Text a mail reader decodes as an RFC 2047 encoded word: "=?utf-8?Q?=0D=0ABcc:…?="
// would come out as a line break and a header at the receiver. Real encoded
// words are nodemailer's job, made from the text itself.
const ENCODED_WORD = /=\?[^?]+\?[bq]\?[^?]*\?=/i;
const hex = (c: string) => `U+${c.charCodeAt(0).toString(16).padStart(4, '0').toUpperCase()}`;

/** Why `s` cannot be used as a value of this kind, or undefined when it can. */
export function textProblem(s: string, kind: 'line' | 'body'): string | undefined {
  if (LONE_SURROGATE.test(s)) return 'contains invalid Unicode (lone surrogate)';
  // Single-line values end up in headers, where CR/LF would start a new header.
  const bad = (kind === 'line' ? /[\x00-\x08\x0a-\x1f\x7f]/ : /\x00/).exec(s)?.[0];
  if (bad === '\r' || bad === '\n') return 'contains a line break (CR or LF), which is not allowed here';
  if (bad === '\0') return 'contains a NUL character';
  if (bad) return `contains a control character (${hex(bad)})`;
  if (kind === 'body') {
    // DKIM signs the body as given; a bare CR is rewritten to CRLF in transit and the signature fails.
    return /\r(?!\n)/.test(s) ? 'contains a bare CR (not followed by LF); use LF or CRLF line endings' : undefined;
  }
  const invisible = INVISIBLE_IN_A_LINE.exec(s)?.[0];
  if (invisible) {
    const what =
      invisible < '\u00a0'
        ? 'a C1 control character'
        : invisible === '\u2028' || invisible === '\u2029'
          ? 'a Unicode line or paragraph separator'
          : 'a bidirectional override or isolate';
    return `contains ${what} (${hex(invisible)}), which can disguise the text`;
  }
  if (ENCODED_WORD.test(s))
    return 'contains an RFC 2047 encoded word ("=?charset?Q?...?="), which mail readers would decode; give the text itself';
  return undefined;
}
