// `mailer <command>`: every command takes --json and then prints exactly one
// JSON object on stdout. Bad input exits 2 with one line naming the field and
// the reason (and, for bad usage, the command's usage line), bad configuration
// 3, a failed operation 1 (see errors.ts). Help and --version: src/cli/help.ts.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { Mailer } from '../client.ts';
import { type Config, loadConfig } from '../config.ts';
import { migrate } from '../db/migrate.ts';
import { createPool } from '../db/pool.ts';
import type { EmailInput } from '../email/input.ts';
import type { EmailPriority } from '../email/priority.ts';
import { EMAIL_STATUSES, type EmailStatus, isEmailStatus } from '../email/status.ts';
import { listEmails } from '../email/store.ts';
import { DEFAULT_LIMITS } from '../email/validation.ts';
import { EXIT } from '../errors.ts';
import { type AttachedFile, readAttachment } from './attach.ts';
import { cliEnv } from './env.ts';
import { describeFailure, UsageError } from './errors.ts';
import { helpRequest, usageLine } from './help.ts';
import * as eventCommands from './events.ts';
import * as ops from './ops.ts';
import { purge } from './purge.ts';
import { addRule, listRules, removeRule, setPerRecipientLimit, showLimits } from './rules.ts';

type Out = (human: string, json: Record<string, unknown>) => void;

type Options = NonNullable<ParseArgsConfig['options']>;

function parse<const O extends Options>(args: string[], options: O = {} as O) {
  try {
    return parseArgs({
      args,
      options: { ...options, json: { type: 'boolean' as const } },
      allowPositionals: true,
      strict: true,
    });
  } catch (err) {
    const message = (err as Error).message;
    const option = /'(-[^' ]+)/.exec(message)?.[1] ?? 'arguments';
    throw new UsageError(option, message.replace(/\. To specify.*$/, ''));
  }
}

async function withMailer<T>(fn: (mailer: Mailer, config: Config) => Promise<T>): Promise<T> {
  const config = loadConfig(cliEnv());
  const mailer = await Mailer.connect({ config });
  try {
    return await fn(mailer, config);
  } finally {
    await mailer.close();
  }
}

function positional(values: string[], index: number, name: string): string {
  const value = values[index];
  if (!value) throw new UsageError(name, 'is missing');
  return value;
}

async function send(args: string[], out: Out, printWarning: (line: string) => void): Promise<number> {
  const { values } = parse(args, {
    from: { type: 'string' },
    to: { type: 'string', multiple: true },
    cc: { type: 'string', multiple: true },
    bcc: { type: 'string', multiple: true },
    'reply-to': { type: 'string', multiple: true },
    subject: { type: 'string' },
    text: { type: 'string' },
    html: { type: 'string' },
    attach: { type: 'string', multiple: true },
    header: { type: 'string', multiple: true },
    'idempotency-key': { type: 'string' },
    'send-at': { type: 'string' },
    priority: { type: 'string' },
    'fairness-key': { type: 'string' },
  });
  const headers: Record<string, string> = {};
  for (const h of values.header ?? []) {
    const colon = h.indexOf(':');
    if (colon < 1) throw new UsageError('--header', `"${h}" is not "Name: value"`);
    const name = h.slice(0, colon).trim();
    // Header names are case-insensitive; a second value would silently replace the first.
    if (Object.keys(headers).some((n) => n.toLowerCase() === name.toLowerCase()))
      throw new UsageError('--header', `"${name}" is given twice`);
    headers[name] = h.slice(colon + 1).trim();
  }
  const files = values.attach ?? [];
  if (files.length > DEFAULT_LIMITS.maxAttachments)
    throw new UsageError(
      '--attach',
      `is given ${files.length} times; at most ${DEFAULT_LIMITS.maxAttachments} files can be attached`,
    );
  const attached: AttachedFile[] = [];
  for (const file of files) attached.push(await readAttachment(file));
  const attachments = attached.map(({ filename, content }) => ({ filename, content }));
  const input = {
    from: values.from,
    to: values.to,
    subject: values.subject,
    ...(values.cc ? { cc: values.cc } : {}),
    ...(values.bcc ? { bcc: values.bcc } : {}),
    ...(values['reply-to'] ? { replyTo: values['reply-to'] } : {}),
    ...(values.text !== undefined ? { text: values.text } : {}),
    ...(values.html !== undefined ? { html: values.html } : {}),
    ...(values.header ? { headers } : {}),
    ...(attachments.length ? { attachments } : {}),
  } as EmailInput;
  const result = await withMailer((m) =>
    m.send(input, {
      ...(values['idempotency-key'] !== undefined ? { idempotencyKey: values['idempotency-key'] } : {}),
      ...(values['send-at'] !== undefined ? { sendAt: values['send-at'] } : {}),
      ...(values.priority !== undefined ? { priority: values.priority as EmailPriority } : {}),
      ...(values['fairness-key'] !== undefined ? { fairnessKey: values['fairness-key'] } : {}),
    }),
  );
  out(
    `${result.id}  (workflow ${result.workflowId}${result.created ? '' : ', existing email for this idempotency key'})` +
      attached.map((a) => `\n  attached ${a.filename}: ${a.path}, ${a.content.length} bytes`).join(''),
    {
      id: result.id,
      workflowId: result.workflowId,
      created: result.created,
      workflowStarted: result.workflowStarted,
      ...(result.startError ? { startError: result.startError } : {}),
      ...(attached.length
        ? { attachments: attached.map((a) => ({ filename: a.filename, path: a.path, size: a.content.length })) }
        : {}),
    },
  );
  if (result.startError) {
    // Stored, so not lost; but the operator must hear why it has not started.
    const what = result.startError.code === 'TEMPORAL_CONFIG' ? 'configuration error' : 'not started yet';
    printWarning(
      `warning: email ${result.id} is stored but its workflow did not start (${what}): ${result.startError.reason}; ` +
        'the reconciler starts it once Temporal accepts it',
    );
    if (result.startError.code === 'TEMPORAL_CONFIG') return EXIT.config;
  }
  return EXIT.ok;
}

async function status(args: string[], out: Out): Promise<void> {
  const { positionals } = parse(args);
  const view = await withMailer((m) => m.status(positional(positionals, 0, 'ID')));
  const state = view.workflow?.state;
  const pending = view.workflow?.pendingActivity;
  out(
    `${view.id}  ${view.status}  attempts ${view.attempts}${state ? `, step ${state.step}` : ''}` +
      (view.sentAt ? `  sent ${view.sentAt}` : '') +
      (view.lastError ? `\n  last error: ${view.lastError}` : '') +
      (state?.nextAttemptAt ? `\n  next delivery attempt at ${state.nextAttemptAt}` : '') +
      (pending
        ? `\n  in flight: ${pending.type}, activity attempt ${pending.attempt}${pending.lastFailure ? `, last failure: ${pending.lastFailure}` : ''}`
        : '') +
      `\n  Message-ID ${view.messageId ?? `(none: ${view.status === 'queued' || view.status === 'scheduled' ? 'awaiting validation' : 'never admitted'})`}  workflow ${view.workflowId} (${view.workflow?.status ?? 'none'})\n  ${view.link}`,
    { ...view },
  );
}

async function cancel(args: string[], out: Out): Promise<void> {
  const { positionals } = parse(args);
  const result = await withMailer((m) => m.cancel(positional(positionals, 0, 'ID')));
  out(`${result.id}  ${result.status}`, result);
}

async function list(args: string[], out: Out): Promise<void> {
  const { values } = parse(args, { status: { type: 'string' }, limit: { type: 'string' } });
  if (values.status !== undefined && !isEmailStatus(values.status))
    throw new UsageError('--status', `must be one of ${EMAIL_STATUSES.join(', ')}`);
  const statusFilter = values.status as EmailStatus | undefined;
  const limit = values.limit === undefined ? 50 : Number(values.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 10_000)
    throw new UsageError('--limit', 'must be a whole number from 1 to 10000');
  const emails = await withMailer((m) =>
    listEmails(m.db, { ...(statusFilter ? { status: statusFilter } : {}), limit }),
  );
  const rows = emails.map((e) => ({
    id: e.id,
    status: e.status,
    createdOn: e.createdOn.toISOString(),
    attempts: e.attempts,
    sentAt: e.sentAt?.toISOString() ?? null,
    lastError: e.lastError,
  }));
  out(
    rows
      .map(
        (r) =>
          `${r.id}  ${r.status.padEnd(9)}  ${r.createdOn}  attempts ${r.attempts}${r.status === 'rejected' ? `  ${r.lastError}` : ''}`,
      )
      .join('\n') || '(no emails)',
    { emails: rows },
  );
}

async function rules(args: string[], out: Out): Promise<void> {
  const { positionals } = parse(args);
  const action = positional(positionals, 0, 'action');
  await withMailer(async (m, config) => {
    if (action === 'list') {
      const all = await listRules(m.db, config);
      return out(
        all
          .map((r) => `${r.kind.padEnd(5)}  ${r.pattern}${r.source === 'config' ? '  (from configuration)' : ''}`)
          .join('\n') || '(no rules)',
        { rules: all },
      );
    }
    if (action !== 'add' && action !== 'remove') throw new UsageError('action', 'must be add, remove or list');
    const kind = positional(positionals, 1, 'kind');
    if (kind !== 'allow' && kind !== 'deny') throw new UsageError('kind', 'must be allow or deny');
    const pattern = positional(positionals, 2, 'PATTERN');
    const changed = action === 'add' ? await addRule(m.db, kind, pattern) : await removeRule(m.db, kind, pattern);
    out(
      `${action === 'add' ? 'added' : 'removed'} ${kind} ${changed.pattern}${changed.changed ? '' : ' (no change)'}`,
      { action, kind, ...changed },
    );
  });
}

async function limits(args: string[], out: Out): Promise<void> {
  const { values, positionals } = parse(args, { 'per-recipient': { type: 'string' } });
  const action = positional(positionals, 0, 'action');
  await withMailer(async (m, config) => {
    if (action === 'show') {
      const current = await showLimits(m.db, config);
      return out(
        current.perRecipient
          ? `per recipient: ${current.perRecipient.maxEmails} emails per ${current.perRecipient.windowMinutes} min (${current.source})`
          : 'per recipient: no limit',
        current,
      );
    }
    if (action !== 'set') throw new UsageError('action', 'must be set or show');
    if (!values['per-recipient']) throw new UsageError('--per-recipient', 'is missing (e.g. --per-recipient 10/60m)');
    const limit = await setPerRecipientLimit(m.db, values['per-recipient']);
    out(`per recipient: ${limit.maxEmails} emails per ${limit.windowMinutes} min`, { perRecipient: limit });
  });
}

async function operate(
  args: string[],
  out: Out,
  fn: (
    m: Mailer,
    values: { 'older-than'?: string; 'dry-run'?: boolean },
    positionals: string[],
  ) => Promise<{ human: string; json: Record<string, unknown> }>,
) {
  const { values, positionals } = parse(args, { 'older-than': { type: 'string' }, 'dry-run': { type: 'boolean' } });
  const result = await withMailer((m) => fn(m, values, positionals));
  out(result.human, result.json);
}

async function migrateCommand(args: string[], out: Out): Promise<void> {
  parse(args);
  // Only the database: a deploy step runs this with a role that may create tables.
  const config = loadConfig(cliEnv());
  const pool = createPool(config.databaseUrl, 1);
  try {
    const applied = await migrate(pool, config.database.schema);
    out(
      applied.length
        ? `applied migration(s) ${applied.join(', ')} in schema ${config.database.schema}`
        : `schema ${config.database.schema} is up to date`,
      {
        schema: config.database.schema,
        applied,
      },
    );
  } finally {
    await pool.end();
  }
}

async function purgeCommand(args: string[], out: Out): Promise<void> {
  const { values } = parse(args, { 'dry-run': { type: 'boolean' } });
  const result = await purge(loadConfig(cliEnv()), values['dry-run'] ?? false);
  out(result.human, result.json);
}

type Command = (args: string[], out: Out, printWarning: (line: string) => void) => Promise<number | void>;

export const COMMANDS: Map<string, Command> = new Map<string, Command>(
  Object.entries({
    send,
    status,
    cancel,
    list,
    rules,
    limits,
    migrate: migrateCommand,
    purge: purgeCommand,
    stuck: (args: string[], out: Out) =>
      operate(args, out, (m, v) => ops.stuck(m, ops.duration(v['older-than'], '--older-than', 5 * 60_000))),
    lost: (args: string[], out: Out) =>
      operate(args, out, (m, v) =>
        ops.lost(m, ops.duration(v['older-than'], '--older-than', m.config.reconcile.olderThanMs)),
      ),
    reconcile: (args: string[], out: Out) =>
      operate(args, out, (m, v) =>
        ops.runReconcile(
          m,
          ops.duration(v['older-than'], '--older-than', m.config.reconcile.olderThanMs),
          v['dry-run'] ?? false,
        ),
      ),
    'resend-unsent': (args: string[], out: Out): Promise<number | void> =>
      COMMANDS.get('reconcile')!(args, out, () => {}),
    resolve: async (args: string[], out: Out) => {
      const { values, positionals } = parse(args, { sent: { type: 'boolean' }, resend: { type: 'boolean' } });
      if (values.sent === values.resend)
        throw new UsageError('decision', 'give exactly one of --sent (the recipient has it) or --resend');
      const result = await withMailer((m) =>
        m.resolve(positional(positionals, 0, 'ID'), values.sent ? 'sent' : 'resend'),
      );
      out(`${result.id}  ${result.decision === 'sent' ? 'marked as sent' : 'will be sent again (same Message-ID)'}`, {
        ...result,
      });
    },
    retry: (args: string[], out: Out) => operate(args, out, (m, _v, p) => ops.retry(m, positional(p, 0, 'ID'))),
    setup: (args: string[], out: Out) => operate(args, out, (m) => ops.setup(m)),
    events: async (args: string[], out: Out) => {
      const { values, positionals } = parse(args, {
        webhook: { type: 'string' },
        after: { type: 'string' },
        limit: { type: 'string' },
      });
      const r = await withMailer((m) => eventCommands.events(m, positionals, values));
      out(r.human, r.json);
    },
    webhooks: async (args: string[], out: Out) => {
      parse(args);
      const r = await withMailer((m, config) => eventCommands.webhooks(m, config.webhook !== undefined));
      out(r.human, r.json);
    },
    suppressions: async (args: string[], out: Out) => {
      const { values, positionals } = parse(args, {
        reason: { type: 'string' },
        note: { type: 'string' },
        limit: { type: 'string' },
      });
      const r = await withMailer((m) => eventCommands.suppressions(m, positionals, values));
      out(r.human, r.json);
    },
  } satisfies Record<string, Command>),
);

/** Runs one command; returns the exit code. `print` and `printError` default to the console. */
export async function main(
  argv: string[],
  print: (line: string) => void = (line) => console.log(line),
  printError: (line: string) => void = (line) => console.error(line),
): Promise<number> {
  const json = argv.includes('--json');
  const out: Out = (human, data) => print(json ? JSON.stringify(data) : human);
  const [command, ...rest] = argv;
  const early = helpRequest(argv, (name) => COMMANDS.has(name));
  if (early) {
    (early.stream === 'stdout' ? print : printError)(early.text);
    return early.code;
  }
  try {
    // A Map, not an object: `constructor` or `__proto__` are not commands.
    const run = command ? COMMANDS.get(command) : undefined;
    if (!run) throw new UsageError('command', `unknown command "${command}"`);
    return (await run(rest, out, printError)) ?? EXIT.ok;
  } catch (err) {
    const failure = describeFailure(err);
    // One line, whatever the message holds, and no control character that a terminal would act on.
    printError(
      `error: ${failure.message.replace(/\s*\n\s*/g, ' ').replace(/[\x00-\x1f\x7f-\x9f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`)}`,
    );
    // People get the usage line; a program (--json) keeps its one line and one object.
    if (err instanceof UsageError && !json)
      printError(usageLine(command && COMMANDS.has(command) ? command : undefined));
    if (json)
      print(
        JSON.stringify({
          error: { code: failure.code, ...(failure.field ? { field: failure.field } : {}), message: failure.message },
        }),
      );
    return failure.exitCode;
  }
}
