// `npm run test:production`: the same per-run stack as test/global-setup.ts,
// with the real temporal-server on Postgres (set up as docker-compose.yml sets
// it up) in place of the dev server.
import type { TestProject } from 'vitest/node';
import { setUpTestStack } from './global-setup.ts';

export default function setup(project: TestProject) {
  return setUpTestStack(project, 'production');
}
