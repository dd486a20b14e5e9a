#!/usr/bin/env node
// `npx mailer …`: the command line, as compiled JavaScript (dist/). In a
// development checkout whose sources changed since the last build, it runs the
// TypeScript sources through tsx instead, so an edit is never shadowed by a
// stale build.
import { existsSync } from 'node:fs';

const source = new URL('../src/cli/main.ts', import.meta.url);
let main;
if (existsSync(source) && (await import('../scripts/build.mjs')).isStale()) {
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import(source.href));
} else {
  ({ main } = await import('../dist/cli/main.js'));
}
process.exitCode = await main(process.argv.slice(2));
