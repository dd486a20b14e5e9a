// What `npm start` tells a person and leaves on disk: a banner with every
// credential masked, and .data/stack.json (read by `mailer` to find the stack),
// which holds the full URLs and is therefore readable by its owner only.
import { chmod, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { maskUrl } from '../../src/config.ts';
import type { StackInfo } from './index.ts';

/** Writes `stack.json` in the stack's data folder, mode 0600, replacing any older copy whole. */
export async function writeStackFile(info: StackInfo): Promise<string> {
  const file = path.join(info.dataDir, 'stack.json');
  const partial = `${file}.${process.pid}.tmp`;
  await writeFile(partial, JSON.stringify(info, null, 2), { mode: 0o600 });
  // The mode of a created file is also cut by the umask; set it outright.
  await chmod(partial, 0o600);
  await rename(partial, file);
  return file;
}

export function banner(
  info: StackInfo,
  { seconds, taskQueue, metricsUrl }: { seconds: number; taskQueue: string; metricsUrl: string },
): string {
  const cli = info.temporalCli ?? 'temporal';
  return `
mailer is running (${seconds.toFixed(1)} s)

  Temporal Web UI   ${info.temporalUiUrl ?? '(external cluster)'}
  Worker metrics    ${metricsUrl}
  Temporal address  ${info.temporalAddress}  namespace ${info.temporalNamespace}  task queue ${taskQueue}
  Temporal CLI      ${cli}  (${info.temporalVersion ?? 'external'})
  Postgres          ${maskUrl(info.databaseUrl)}
  SMTP              ${maskUrl(info.smtpUrl)}
  Mailbox           ${info.mailboxUrl ?? '(external SMTP)'}  folder ${info.mailboxDir ?? '-'}
  All of the above  ${path.join(info.dataDir, 'stack.json')}

Send an email, then look at it (in another terminal, in this folder):
  npx mailer send --from app@example.com --to you@example.com --subject Hello --text "It works"
  npx mailer status <id printed by send>
  npx mailer list

Ctrl-C stops everything.`;
}
