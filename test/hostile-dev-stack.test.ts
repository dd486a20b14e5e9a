// What `npm start` prints and writes holds no credential a bystander can read,
// and the dev mailbox cannot be driven or read by another web site.
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { banner, writeStackFile } from '../dev/stack/announce.ts';
import type { StackInfo } from '../dev/stack/index.ts';

describe('npm start: banner and stack.json', () => {
  let dir: string;
  let info: StackInfo;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'mailer-announce-'));
    info = {
      temporalAddress: '127.0.0.1:7233', temporalNamespace: 'default', temporalUiUrl: 'http://127.0.0.1:8233',
      temporalCli: 'temporal', temporalVersion: '1.9.1',
      databaseUrl: 'postgres://postgres:pg-secret-1@127.0.0.1:5432/mailer?sslpassword=pg-secret-2',
      smtpUrl: 'smtps://mailer:smtp-secret-3@smtp.provider.example:465',
      mailboxDir: undefined, mailboxUrl: undefined, dataDir: dir,
    };
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('masks every password in the banner', () => {
    const text = banner(info, { seconds: 4.2, taskQueue: 'email', metricsUrl: 'http://127.0.0.1:9464/metrics' });
    for (const secret of ['pg-secret-1', 'pg-secret-2', 'smtp-secret-3']) expect(text).not.toContain(secret);
    expect(text).toContain('postgres://postgres:****@127.0.0.1:5432/mailer');
    expect(text).toContain('smtps://mailer:****@smtp.provider.example:465');
  });

  it('writes stack.json readable by its owner only, also over an older world-readable copy', async () => {
    const file = path.join(dir, 'stack.json');
    await writeFile(file, '{}', { mode: 0o644 });
    const previous = process.umask(0o000);
    try {
      expect(await writeStackFile(info)).toBe(file);
    } finally {
      process.umask(previous);
    }
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    // The CLI needs the full URL from it.
    expect(JSON.parse(await readFile(file, 'utf8')).databaseUrl).toBe(info.databaseUrl);
  });
});
