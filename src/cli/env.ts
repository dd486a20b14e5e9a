// Where the command line finds the service: the environment first; when it
// names no database and no Temporal, the stack `npm start` is running (it
// writes every address to .data/stack.json in the folder it runs in).
import { readFileSync } from 'node:fs';
import path from 'node:path';

export function cliEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  if (env.DATABASE_URL || env.TEMPORAL_ADDRESS) return env;
  let stack: { databaseUrl?: string; temporalAddress?: string; temporalNamespace?: string; temporalUiUrl?: string };
  try {
    stack = JSON.parse(readFileSync(path.resolve('.data', 'stack.json'), 'utf8')) as typeof stack;
  } catch {
    return env;
  }
  return {
    ...env,
    DATABASE_URL: stack.databaseUrl,
    TEMPORAL_ADDRESS: stack.temporalAddress,
    TEMPORAL_NAMESPACE: stack.temporalNamespace,
    TEMPORAL_UI_URL: env.TEMPORAL_UI_URL ?? stack.temporalUiUrl,
  };
}
