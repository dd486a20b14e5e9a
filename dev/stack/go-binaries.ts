// The real Temporal server and its schema tool, as production runs them. No
// package registry ships them as binaries; the Go module proxy ships their
// source, and `go install` builds it (checking every module against the
// checksum database). Found in the same order as the CLI (binaries.ts): an
// explicit path, PATH, the project copy in `.tools/bin`, and only then a
// one-time build into `.tools/` (module and build caches there too, so a
// second build, e.g. after a version bump, reuses most of the first).
import { execFile, spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, open, readFile, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import {
  BinaryNotFoundError,
  type BinarySpec,
  binaryVersion,
  isExecutable,
  onPath,
  type ResolvedBinary,
  toolsDir,
} from './binaries.ts';
import { waitFor } from './wait.ts';

const run = promisify(execFile);

/**
 * One server version everywhere: this build, `temporalio/server` and
 * `temporalio/admin-tools` in docker-compose.yml (test/compose.test.ts checks
 * it), and the dev server of Temporal CLI 1.9.1 (Server 1.32.0). 1.32.2 needs
 * a newer Go than these machines have.
 */
export const TEMPORAL_SERVER_VERSION = '1.32.0';
const MODULE = 'go.temporal.io/server';

export interface GoBinarySpec extends BinarySpec {
  /** The package `go install` builds; its binary is named after the last path element. */
  goPackage: string;
}

export const TEMPORAL_SERVER: GoBinarySpec = {
  name: 'Temporal server',
  envVar: 'TEMPORAL_SERVER_PATH',
  command: 'temporal-server',
  goPackage: `${MODULE}/cmd/server`,
  pipPackage: MODULE,
  pipVersion: TEMPORAL_SERVER_VERSION,
};

export const TEMPORAL_SQL_TOOL: GoBinarySpec = {
  name: 'Temporal SQL schema tool',
  envVar: 'TEMPORAL_SQL_TOOL_PATH',
  command: 'temporal-sql-tool',
  goPackage: `${MODULE}/cmd/tools/sql`,
  pipPackage: MODULE,
  pipVersion: TEMPORAL_SERVER_VERSION,
};

export const goDir = path.join(toolsDir, 'go');

function projectCopy(spec: GoBinarySpec, binDir = path.join(toolsDir, 'bin')): string {
  return path.join(binDir, `${spec.command}-${spec.pipVersion}`);
}

/** Go's caches inside `.tools/go`, the module proxy's checksums enforced, this machine's Go only. */
export function goEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return {
    ...env,
    GOPATH: goDir,
    GOMODCACHE: path.join(goDir, 'pkg', 'mod'),
    GOCACHE: path.join(goDir, 'cache'),
    // -modcacherw: the module cache stays deletable without root (`rm -rf .tools`).
    GOFLAGS: '-mod=mod -modcacherw',
    GOTOOLCHAIN: 'local',
  };
}

/**
 * Only one build at a time, machine-wide for this clone: a build peaks at
 * ~1.6 GB and takes both cores. The lock file holds the builder's pid; a lock
 * whose process is gone (a killed run) is taken over.
 */
async function withBuildLock<T>(log: (line: string) => void, fn: () => Promise<T>): Promise<T> {
  const lock = path.join(goDir, 'build.lock');
  await mkdir(goDir, { recursive: true });
  let announced = false;
  const handle = await waitFor(
    'the other Temporal server build to finish',
    async () => {
      try {
        const file = await open(lock, 'wx');
        await file.write(String(process.pid));
        return file;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        const owner = Number(await readFile(lock, 'utf8').catch(() => ''));
        if (!owner || !alive(owner)) {
          await rm(lock, { force: true });
          return undefined;
        }
        if (!announced) log(`waiting for another build of the Temporal server (pid ${owner}) to finish…`);
        announced = true;
        return undefined;
      }
    },
    { timeoutMs: 3_600_000, intervalMs: 2000 },
  );
  try {
    return await fn();
  } finally {
    await handle.close();
    await rm(lock, { force: true });
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * `go install` of every wanted package in one build (they share one module
 * version), into a scratch folder, then each binary renamed into `.tools/bin`:
 * a rename is atomic, so nobody ever runs a half-written binary.
 */
/** `go` on PATH, else where the official tarball installs it (a login shell's PATH is not always inherited). */
async function goCommand(env: NodeJS.ProcessEnv): Promise<string> {
  const fromPath = await onPath('go', env.PATH ?? '');
  if (fromPath) return fromPath;
  return (await isExecutable('/usr/local/go/bin/go')) ? '/usr/local/go/bin/go' : 'go';
}

async function build(specs: GoBinarySpec[], env: NodeJS.ProcessEnv, log: (line: string) => void): Promise<void> {
  const go = await goCommand(env);
  await run(go, ['version'], { env: goEnv(env), timeout: 30_000 }).catch((err: unknown) => {
    throw new Error(
      `\`go\` is not usable (${err instanceof Error ? err.message.split('\n')[0] : String(err)}); Go 1.26.8 or newer builds the server`,
    );
  });
  await withBuildLock(log, async () => {
    const missing = [];
    for (const spec of specs) if (!(await isExecutable(projectCopy(spec)))) missing.push(spec);
    if (!missing.length) return; // another process built them while we waited
    const scratch = await mkdtemp(path.join(toolsDir, 'go-build-'));
    const logFile = path.join(goDir, `build-${TEMPORAL_SERVER_VERSION}.log`);
    const started = Date.now();
    log(
      `building ${missing.map((s) => s.command).join(' and ')} ${TEMPORAL_SERVER_VERSION} from the Go module proxy into ${toolsDir} ` +
        `(one time: ~6 min on a quiet 2-core machine, longer on a busy one; log: ${logFile})…`,
    );
    try {
      const args = ['-n', '10', go, 'install', ...missing.map((s) => `${s.goPackage}@v${TEMPORAL_SERVER_VERSION}`)];
      const out = createWriteStream(logFile);
      const child = spawn('nice', args, { env: { ...goEnv(env), GOBIN: scratch }, stdio: ['ignore', 'pipe', 'pipe'] });
      child.stdout.pipe(out, { end: false });
      child.stderr.pipe(out, { end: false });
      const code = await new Promise<number | null>((resolve, reject) => {
        child.once('error', reject);
        child.once('close', resolve);
      });
      out.end();
      if (code !== 0) {
        const tail = (await readFile(logFile, 'utf8').catch(() => '')).trimEnd().split('\n').slice(-8).join('\n');
        throw new Error(`go install exited with ${code}:\n${tail}`);
      }
      await mkdir(path.join(toolsDir, 'bin'), { recursive: true });
      for (const spec of missing) await rename(path.join(scratch, path.basename(spec.goPackage)), projectCopy(spec));
      log(
        `built ${missing.map((s) => s.command).join(' and ')} ${TEMPORAL_SERVER_VERSION} in ${Math.round((Date.now() - started) / 1000)} s`,
      );
    } finally {
      await rm(scratch, { recursive: true, force: true });
    }
  });
}

/**
 * Finds (or builds) every spec. A `temporal-server` on PATH of another
 * version is passed over: this stack exists to run the version production runs.
 */
export async function resolveGoBinaries<K extends string>(
  specs: Record<K, GoBinarySpec>,
  {
    install = true,
    env = process.env,
    log = (line: string) => console.error(`[stack] ${line}`),
    binDir,
  }: {
    install?: boolean;
    env?: NodeJS.ProcessEnv;
    log?: (line: string) => void;
    /** Where project copies are looked for (tests). */ binDir?: string;
  } = {},
): Promise<Record<K, ResolvedBinary>> {
  const found = {} as Record<K, ResolvedBinary>;
  const tried = new Map<K, string[]>();
  const entries = Object.entries(specs) as [K, GoBinarySpec][];
  for (const [key, spec] of entries) {
    const notes: string[] = [];
    tried.set(key, notes);
    const fromEnv = env[spec.envVar];
    if (fromEnv) {
      if (await isExecutable(fromEnv)) found[key] = { path: fromEnv, source: 'env' };
      else throw new BinaryNotFoundError(spec, [`${spec.envVar}=${fromEnv}: not an executable file`], true);
      continue;
    }
    notes.push(`${spec.envVar}: not set`);
    const fromPath = await onPath(spec.command, env.PATH ?? '');
    if (
      fromPath &&
      spec === TEMPORAL_SERVER &&
      !(await binaryVersion(fromPath).catch(() => '')).includes(TEMPORAL_SERVER_VERSION)
    ) {
      notes.push(`\`${spec.command}\` on PATH (${fromPath}) is not version ${TEMPORAL_SERVER_VERSION}`);
    } else if (fromPath) {
      found[key] = { path: fromPath, source: 'path' };
      continue;
    } else {
      notes.push(`\`${spec.command}\` on PATH: not found`);
    }
    const local = projectCopy(spec, binDir);
    if (await isExecutable(local)) found[key] = { path: local, source: 'project' };
    else notes.push(`project copy ${local}: not installed`);
  }
  const missing = entries.filter(([key]) => !found[key]);
  if (!missing.length) return found;
  if (install) {
    try {
      await build(
        missing.map(([, spec]) => spec),
        env,
        log,
      );
      for (const [key, spec] of missing) found[key] = { path: projectCopy(spec), source: 'installed' };
      return found;
    } catch (err) {
      const detail = err instanceof Error ? err.message : String(err);
      for (const [key] of missing) tried.get(key)!.push(`building it with \`go install\`: ${detail}`);
    }
  }
  const [key, spec] = missing[0]!;
  throw new GoBinaryNotFoundError(spec, tried.get(key)!);
}

export class GoBinaryNotFoundError extends BinaryNotFoundError {
  constructor(spec: GoBinarySpec, tried: string[]) {
    super(spec, tried);
    this.message =
      `${spec.name} not found. Tried:\n  - ${tried.join('\n  - ')}\n` +
      `Fix: install Go 1.26.8 or newer so the project can build it, or build it yourself ` +
      `(\`go install ${spec.goPackage}@v${spec.pipVersion}\`) and set ${spec.envVar}=/path/to/${path.basename(spec.goPackage)}.`;
  }
}
