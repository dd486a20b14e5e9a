#!/usr/bin/env node
// `npx mailer …`: the command line. The installed package runs the compiled
// JavaScript; a development checkout (sources present, tsx installed) runs the
// TypeScript sources, so an edit is never shadowed by a stale build.
import { existsSync } from 'node:fs';

const source = new URL('../src/cli/main.ts', import.meta.url);
let main;
if (existsSync(source)) {
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import(source.href));
} else {
  ({ main } = await import('../dist/cli/main.js'));
}
process.exitCode = await main(process.argv.slice(2));
