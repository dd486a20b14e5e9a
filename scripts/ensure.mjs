// Installs what a fresh clone is missing before `npm start` / `npm test`:
// the npm dependencies, when node_modules is absent or older than the lock
// file. (The Temporal binaries are found or installed by the stack itself.)
// Plain JavaScript with no dependencies, because it runs before they exist.
import { execSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '..');
const lock = path.join(root, 'package-lock.json');
const stamp = path.join(root, 'node_modules', '.mailer-lock-hash');
const hash = createHash('sha256').update(readFileSync(lock)).digest('hex');

const current = existsSync(stamp) ? readFileSync(stamp, 'utf8').trim() : '';
if (current !== hash) {
  console.error('[ensure] installing npm dependencies (npm ci)…');
  execSync('npm ci --no-audit --no-fund', { cwd: root, stdio: 'inherit' });
  writeFileSync(stamp, hash);
}
