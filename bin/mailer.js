#!/usr/bin/env node
// `npx mailer …`: the command line, run from the TypeScript sources through tsx.
import { register } from 'tsx/esm/api';

register();
await import('../src/cli/main.ts');
