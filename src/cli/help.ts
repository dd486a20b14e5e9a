// `mailer --help`, `mailer <command> --help` (or -h, or `mailer help
// <command>`) and `mailer --version`, by the usual conventions: help goes to
// stdout and exits 0; a missing or unknown command, or a bad option, exits 2
// with the usage line on stderr (after the one error line; not with --json,
// whose callers read one line and one object).
import { readFileSync } from 'node:fs';
import { UsageError } from './errors.ts';

export { UsageError };

interface CommandHelp {
  usage: string;
  /** One line in `mailer --help`. */
  brief: string;
  summary: string;
  /** Option lines, already aligned. */
  options?: string;
  examples: string[];
}

const JSON_OPTION = '  --json                 print one JSON object instead of text';

export const HELP: Record<string, CommandHelp> = {
  send: {
    brief: 'store an email and start its workflow',
    usage:
      'mailer send --from A --to B [--to C…] [--cc …] [--bcc …] [--reply-to …] --subject S (--text T | --html H) [--attach FILE…] [--header "Name: value"…] [--idempotency-key K] [--send-at ISO-8601] [--priority high|normal|low] [--fairness-key K]',
    summary: 'Store an email in Postgres and start its workflow; prints its id.',
    options: `  --from, --to, --cc, --bcc, --reply-to   addresses ("Name <a@example.com>" or a@example.com); --to and the others repeat
  --subject S, --text T, --html H          content (at least one of --text and --html)
  --attach FILE            attach a file's bytes (repeat for more)
  --header "Name: value"   an extra header from the allowed list (repeat for more)
  --idempotency-key K      the same key returns the same email; another payload under it is refused
  --send-at ISO-8601       deliver at (not before) this time, with a time zone
  --priority P             high, normal (default) or low: high overtakes a backlog
  --fairness-key K         share deliveries fairly between keys (e.g. a tenant id)`,
    examples: [
      'mailer send --from app@example.com --to you@example.com --subject Hello --text "It works"',
      'mailer send --from billing@acme.example --to ann@example.com --subject Invoice --text Attached --attach invoice.pdf --idempotency-key invoice-42',
    ],
  },
  status: {
    brief: 'the record and what its workflow is doing',
    usage: 'mailer status ID',
    summary: 'The record (status, attempts, last error, sent time, Message-ID) and what its workflow is doing.',
    examples: ['mailer status 1f0c2b6e-…', 'mailer status 1f0c2b6e-… --json'],
  },
  cancel: {
    brief: 'cancel an email that has not been sent',
    usage: 'mailer cancel ID',
    summary:
      'Cancel an email that has not been sent; waits for an attempt in flight and prints the outcome (cancelled, or sent).',
    examples: ['mailer cancel 1f0c2b6e-…'],
  },
  list: {
    brief: 'email records, newest first',
    usage: 'mailer list [--status S] [--limit N]',
    summary: 'Email records, newest first.',
    options: `  --status S             only this status (queued, scheduled, blocked, sending, sent, failed, cancelled)
  --limit N              at most N (default 50, up to 10000)`,
    examples: ['mailer list --status failed', 'mailer list --limit 200 --json'],
  },
  stuck: {
    brief: 'emails whose delivery keeps failing or has not moved',
    usage: 'mailer stuck [--older-than 5m]',
    summary: 'Running emails whose delivery failed at least once, or that have not moved for that long.',
    options: '  --older-than D         how long without progress counts as stuck (default 5m)',
    examples: ['mailer stuck', 'mailer stuck --older-than 30m --json'],
  },
  lost: {
    brief: 'unfinished records with no running workflow',
    usage: 'mailer lost [--older-than 1m]',
    summary: 'Unfinished records, unchanged for that long, with no running workflow.',
    options: '  --older-than D         how long unchanged (default RECONCILE_OLDER_THAN, 1m)',
    examples: ['mailer lost', 'mailer lost --older-than 0s'],
  },
  reconcile: {
    brief: 'restart the workflow of every lost email (alias: resend-unsent)',
    usage: 'mailer reconcile [--dry-run] [--older-than 1m]',
    summary:
      'Start the workflow again, same id, for every lost email (alias: resend-unsent). Safe to run twice at once.',
    options: `  --dry-run              list what would be restarted, change nothing
  --older-than D         how long unchanged (default RECONCILE_OLDER_THAN, 1m)`,
    examples: ['mailer reconcile --dry-run', 'mailer reconcile'],
  },
  retry: {
    brief: 'a new run for a failed email',
    usage: 'mailer retry ID',
    summary: 'A new run for a failed email, under the same workflow id (refused once its content was purged).',
    examples: ['mailer retry 1f0c2b6e-…'],
  },
  resolve: {
    brief: 'decide a held email (UNCERTAIN_DELIVERY_POLICY=hold)',
    usage: 'mailer resolve ID --sent|--resend',
    summary:
      'Decide a held email (UNCERTAIN_DELIVERY_POLICY=hold): the recipient has it, or send it again with the same Message-ID.',
    options: `  --sent                 the attempt that died was delivered: record it as sent
  --resend               deliver it again (same Message-ID, receivers can de-duplicate)`,
    examples: ['mailer resolve 1f0c2b6e-… --sent'],
  },
  purge: {
    brief: 'purge the content of emails past their retention now',
    usage: 'mailer purge [--dry-run]',
    summary:
      "Purge now what retention says is due: the content of emails final for EMAIL_CONTENT_RETENTION (30d), and whole records past EMAIL_RECORD_RETENTION when set. The worker's Schedule does this every MAILER_PURGE_INTERVAL; run it with the worker's settings.",
    options: '  --dry-run              count what is due, change nothing',
    examples: ['mailer purge --dry-run', 'EMAIL_CONTENT_RETENTION=45d mailer purge'],
  },
  setup: {
    brief: 'register the search attributes on the namespace',
    usage: 'mailer setup',
    summary:
      'Register the search attributes (EmailStatus, EmailAttempt, EmailErrorClass) on the namespace; those present are skipped.',
    examples: ['mailer setup'],
  },
  migrate: {
    brief: 'create or upgrade the tables in MAILER_SCHEMA',
    usage: 'mailer migrate',
    summary:
      "Create or upgrade the service's tables in MAILER_SCHEMA (default mailer), with a role that may create tables.",
    examples: ['DATABASE_URL=postgres://owner:…@db/app mailer migrate'],
  },
  rules: {
    brief: 'allow and deny rules',
    usage: 'mailer rules (add|remove) (deny|allow) PATTERN | mailer rules list',
    summary:
      'Allow and deny rules; PATTERN is an address (a@example.com) or a whole domain (@example.com). With any allow rule, only allowed recipients pass.',
    examples: [
      'mailer rules add deny @competitor.example',
      'mailer rules add allow qa@acme.example',
      'mailer rules list',
    ],
  },
  limits: {
    brief: 'the per-recipient limit',
    usage: 'mailer limits set --per-recipient X/Ymin | mailer limits show',
    summary: 'The per-recipient limit: at most X emails to one recipient within Y minutes.',
    options: '  --per-recipient X/Ymin e.g. 10/60m',
    examples: ['mailer limits set --per-recipient 10/60m', 'mailer limits show'],
  },
  events: {
    brief: 'the event log, and redelivery to the webhook',
    usage:
      'mailer events [ID] [--webhook pending|delivered|refused|expired] [--after EVENT_ID] [--limit N] | mailer events redeliver EVENT_ID…',
    summary:
      'Events (sent, failed, blocked, cancelled, rejected, held, retrying) from the event log, newest last; `redeliver` sends refused or expired events to the webhook again.',
    options: `  --webhook STATE        only events in this webhook state
  --after EVENT_ID       only events after this one
  --limit N              at most N`,
    examples: ['mailer events 1f0c2b6e-…', 'mailer events --webhook refused', 'mailer events redeliver 42 43'],
  },
  webhooks: {
    brief: 'the webhook sender and what it waits on',
    usage: 'mailer webhooks',
    summary: 'The webhook sender: its counts by state, what it waits on, and what the receiver refused.',
    examples: ['mailer webhooks --json'],
  },
  suppressions: {
    brief: 'addresses never sent to again',
    usage:
      'mailer suppressions list [--limit N] | mailer suppressions add ADDRESS --reason bounce|complaint|unsubscribe|manual [--note TEXT] | mailer suppressions remove ADDRESS',
    summary:
      'The suppression list: a permanent 5.1.x refusal adds the address; later emails to it end blocked (rule suppressed) without touching SMTP.',
    options: `  --reason R             bounce, complaint, unsubscribe or manual (add)
  --note TEXT            why, for the next operator (add)`,
    examples: [
      'mailer suppressions list',
      'mailer suppressions add ann@example.com --reason complaint',
      'mailer suppressions remove ann@example.com',
    ],
  },
};
HELP['resend-unsent'] = HELP.reconcile!;

/** `mailer help send`, `mailer send --help`: usage, what it does, options, examples. */
export function commandHelp(command: string): string {
  const h = HELP[command];
  if (!h) return usage();
  return [
    `usage: ${h.usage} [--json]`,
    '',
    h.summary,
    '',
    'options:',
    ...(h.options ? [h.options] : []),
    JSON_OPTION,
    '  -h, --help             this help',
    '',
    'examples:',
    ...h.examples.map((e) => `  ${e}`),
  ].join('\n');
}

/** The first line a usage error prints after its message. */
export function usageLine(command: string | undefined): string {
  const h = command ? HELP[command] : undefined;
  return h
    ? `usage: ${h.usage} [--json]  (mailer ${command} --help)`
    : 'usage: mailer <command> [options] [--json]  (mailer --help lists the commands)';
}

export function usage(): string {
  const names = Object.keys(HELP).filter((n) => n !== 'resend-unsent');
  const width = Math.max(...names.map((n) => n.length));
  return [
    'usage: mailer <command> [options] [--json]',
    '',
    'commands:',
    ...names.map((n) => `  ${n.padEnd(width)}  ${HELP[n]!.brief}`),
    '',
    'mailer <command> --help   usage, options and examples of one command',
    'mailer --version          the installed version',
    '',
    'Settings come from the environment (DATABASE_URL, TEMPORAL_ADDRESS, …), or the running `npm start` stack.',
  ].join('\n');
}

export function version(): string {
  // src/cli/ and dist/cli/ are both two levels below the package root.
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    name: string;
    version: string;
  };
  return `${pkg.name} ${pkg.version}`;
}

const HELP_FLAGS = new Set(['--help', '-h']);

/**
 * Answers the requests that need no command to run: help and version.
 * Undefined when the command should run (or fail as unknown).
 */
export function helpRequest(
  argv: string[],
  isCommand: (name: string) => boolean,
): { text: string; code: number; stream: 'stdout' | 'stderr' } | undefined {
  const [first, ...rest] = argv;
  if (first === undefined) return { text: usage(), code: 2, stream: 'stderr' };
  if (first === '--version') return { text: version(), code: 0, stream: 'stdout' };
  if (HELP_FLAGS.has(first) || first === 'help') {
    const topic = rest.find((a) => !a.startsWith('-'));
    if (topic === undefined) return { text: usage(), code: 0, stream: 'stdout' };
    if (!isCommand(topic))
      return { text: `error: command: unknown command "${topic}"\n${usageLine(undefined)}`, code: 2, stream: 'stderr' };
    return { text: commandHelp(topic), code: 0, stream: 'stdout' };
  }
  // Flags after `--` are arguments, not a request for help.
  const flags = rest.includes('--') ? rest.slice(0, rest.indexOf('--')) : rest;
  if (isCommand(first) && flags.some((a) => HELP_FLAGS.has(a)))
    return { text: commandHelp(first), code: 0, stream: 'stdout' };
  return undefined;
}
