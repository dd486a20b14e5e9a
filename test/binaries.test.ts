// How the Temporal binaries are found: explicit path, PATH, project copy.
// (The install path itself runs for real in a fresh clone's first `npm test`.)
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BinaryNotFoundError, resolveBinary, TEMPORAL_CLI } from '../dev/stack/binaries.ts';

const dirs: string[] = [];
afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

async function fakeTemporal(): Promise<{ dir: string; file: string }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'mailer-bin-'));
  dirs.push(dir);
  const file = path.join(dir, 'temporal');
  await writeFile(file, '#!/bin/sh\necho "temporal version test"\n');
  await chmod(file, 0o755);
  return { dir, file };
}

describe('resolveBinary', () => {
  it('uses TEMPORAL_CLI_PATH first', async () => {
    const { file } = await fakeTemporal();
    const found = await resolveBinary(TEMPORAL_CLI, { env: { TEMPORAL_CLI_PATH: file, PATH: '' }, install: false });
    expect(found).toEqual({ path: file, source: 'env' });
  });

  it('refuses a TEMPORAL_CLI_PATH that is not executable, naming the variable', async () => {
    const error = await resolveBinary(TEMPORAL_CLI, { env: { TEMPORAL_CLI_PATH: '/nonexistent/temporal' }, install: false }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BinaryNotFoundError);
    expect((error as BinaryNotFoundError).explicit).toBe(true);
    expect((error as Error).message).toContain('TEMPORAL_CLI_PATH=/nonexistent/temporal: not an executable file');
  });

  it('finds `temporal` on PATH when the variable is not set', async () => {
    const { dir, file } = await fakeTemporal();
    const found = await resolveBinary(TEMPORAL_CLI, { env: { PATH: `/nonexistent:${dir}` }, install: false });
    expect(found).toEqual({ path: file, source: 'path' });
  });
});
