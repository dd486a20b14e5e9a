// How the Temporal binaries are found: explicit path, PATH, project copy.
// (The install path itself runs for real in a fresh clone's first `npm test`.)
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BinaryNotFoundError, resolveBinary, TEMPORAL_CLI } from '../dev/stack/binaries.ts';
import {
  resolveGoBinaries,
  TEMPORAL_SERVER,
  TEMPORAL_SERVER_VERSION,
  TEMPORAL_SQL_TOOL,
} from '../dev/stack/go-binaries.ts';

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
    const error = await resolveBinary(TEMPORAL_CLI, {
      env: { TEMPORAL_CLI_PATH: '/nonexistent/temporal' },
      install: false,
    }).catch((e: unknown) => e);
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

describe('resolveGoBinaries (the real Temporal server and its schema tool)', () => {
  async function fake(command: string, version: string): Promise<{ dir: string; file: string }> {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'mailer-gobin-'));
    dirs.push(dir);
    const file = path.join(dir, command);
    await writeFile(file, `#!/bin/sh\necho "temporal version ${version}"\n`);
    await chmod(file, 0o755);
    return { dir, file };
  }

  it('uses TEMPORAL_SERVER_PATH and TEMPORAL_SQL_TOOL_PATH first, whatever their version', async () => {
    const server = await fake('temporal-server', '0.0.1');
    const sql = await fake('temporal-sql-tool', '0.0.1');
    const found = await resolveGoBinaries(
      { server: TEMPORAL_SERVER, sqlTool: TEMPORAL_SQL_TOOL },
      { env: { TEMPORAL_SERVER_PATH: server.file, TEMPORAL_SQL_TOOL_PATH: sql.file, PATH: '' }, install: false },
    );
    expect(found).toEqual({ server: { path: server.file, source: 'env' }, sqlTool: { path: sql.file, source: 'env' } });
  });

  it('takes a temporal-server from PATH only at the pinned version, and says why it passed one over', async () => {
    const right = await fake('temporal-server', TEMPORAL_SERVER_VERSION);
    expect(await resolveGoBinaries({ server: TEMPORAL_SERVER }, { env: { PATH: right.dir }, install: false })).toEqual({
      server: { path: right.file, source: 'path' },
    });

    const wrong = await fake('temporal-server', '1.29.1');
    const noCopies = await mkdtemp(path.join(os.tmpdir(), 'mailer-gobin-'));
    dirs.push(noCopies);
    const error = await resolveGoBinaries(
      { server: TEMPORAL_SERVER },
      { env: { PATH: wrong.dir }, install: false, binDir: noCopies },
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BinaryNotFoundError);
    expect((error as Error).message).toContain(`(${wrong.file}) is not version ${TEMPORAL_SERVER_VERSION}`);
    expect((error as Error).message).toContain(`set TEMPORAL_SERVER_PATH=`);
  });
});
