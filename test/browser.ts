// Headless Chromium for browser tests: Debian's package, installed by the test
// setup when missing (playwright's own browser download cannot work on machines
// that reach only package registries).
import { execFile } from 'node:child_process';
import { access, constants } from 'node:fs/promises';
import os from 'node:os';
import { promisify } from 'node:util';
import { type Browser, chromium } from 'playwright-core';

const run = promisify(execFile);
const CANDIDATES = [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser'].filter(
  (p): p is string => !!p,
);

async function findChromium(): Promise<string | undefined> {
  for (const path of CANDIDATES) {
    if (
      await access(path, constants.X_OK).then(
        () => true,
        () => false,
      )
    )
      return path;
  }
  return undefined;
}

export async function ensureChromium(): Promise<string> {
  const found = await findChromium();
  if (found) return found;
  if (os.userInfo().uid !== 0) {
    throw new Error('Chromium not found: install it (Debian: apt-get install chromium) or set CHROMIUM_PATH');
  }
  console.error('[browser] installing Debian chromium (one time)…');
  await run('apt-get', ['update', '-qq'], { timeout: 300_000 });
  await run('apt-get', ['install', '-y', '-qq', 'chromium'], {
    timeout: 600_000,
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    maxBuffer: 64 * 1024 * 1024,
  });
  const installed = await findChromium();
  if (!installed) throw new Error('apt-get installed chromium but no binary was found at /usr/bin/chromium');
  return installed;
}

export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: await ensureChromium(),
    headless: true,
    // No sandbox as root; no background traffic on a machine with no internet.
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      '--disable-quic',
    ],
  });
}
