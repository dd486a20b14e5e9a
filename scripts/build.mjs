// `npm run build`: compiles src/ to dist/ and bundles the workflows once, so the
// production worker (`node dist/worker.js`) runs compiled JS and loads the
// pre-built bundle instead of running webpack at every start. The test suite
// runs against this same bundle. Plain JavaScript: it runs before anything is compiled.
import { execFileSync } from 'node:child_process';
import { rmSync, statSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '..');
const dist = path.join(root, 'dist');
export const bundlePath = path.join(dist, 'workflow-bundle.js');

/** Newest modification time under a folder (0 when absent). */
function newest(dir) {
  let max = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) max = Math.max(max, statSync(path.join(entry.parentPath, entry.name)).mtimeMs);
  }
  return max;
}

/** True when dist/ is missing or older than any file of src/ (or the build configuration). */
export function isStale() {
  try {
    const built = statSync(bundlePath).mtimeMs;
    const inputs = Math.max(
      newest(path.join(root, 'src')),
      statSync(path.join(root, 'tsconfig.build.json')).mtimeMs,
      statSync(path.join(root, 'tsconfig.json')).mtimeMs,
    );
    return built < inputs;
  } catch {
    return true;
  }
}

export async function build({ log = (line) => console.error(line) } = {}) {
  const started = Date.now();
  rmSync(dist, { recursive: true, force: true });
  execFileSync(path.join(root, 'node_modules', '.bin', 'tsc'), ['-p', path.join(root, 'tsconfig.build.json')], {
    cwd: root,
    stdio: 'inherit',
  });
  const { bundleWorkflowCode, DefaultLogger } = await import('@temporalio/worker');
  const { code } = await bundleWorkflowCode({
    workflowsPath: path.join(dist, 'workflows', 'index.js'),
    logger: new DefaultLogger('WARN'),
  });
  writeFileSync(bundlePath, code);
  log(
    `[build] dist/ and the workflow bundle (${(code.length / 1024).toFixed(0)} KiB) in ${((Date.now() - started) / 1000).toFixed(1)} s`,
  );
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const onlyIfStale = process.argv.includes('--if-stale');
  if (!onlyIfStale || isStale()) await build();
}
