// docker-compose.yml, Dockerfile and .dockerignore, checked statically: no
// Docker engine is needed. What they must agree with is read from the code
// itself (src/config.ts, src/search-attributes.ts, the dev server's dynamic
// config), so a change there that the Docker stack does not follow fails here.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadConfig } from '../src/config.ts';
import { CLI_TYPE_NAMES, SEARCH_ATTRIBUTES } from '../src/search-attributes.ts';
import { TEMPORAL_SERVER_VERSION } from '../dev/stack/go-binaries.ts';
import { DEV_SERVER_DYNAMIC_CONFIG } from '../dev/stack/temporal-server.ts';
import { WORKER_COMMAND } from '../dev/stack/worker-process.ts';

const root = path.resolve(import.meta.dirname, '..');
const read = (file: string) => readFileSync(path.join(root, file), 'utf8');
const exists = (file: string) => existsSync(path.join(root, file));

// ---- docker-compose.yml ----------------------------------------------------

type EnvValue = string | number | boolean | null;
interface LongPort {
  target: number | string;
  published?: number | string;
  host_ip?: string;
}
interface LongVolume {
  type?: string;
  source?: string;
  target: string;
}
interface Service {
  image?: string;
  build?: unknown;
  environment?: Record<string, EnvValue> | string[];
  ports?: (string | number | LongPort)[];
  expose?: (string | number)[];
  depends_on?: string[] | Record<string, { condition?: string }>;
  command?: string | string[];
  entrypoint?: string | string[];
  volumes?: (string | LongVolume)[];
  healthcheck?: { test?: string | string[]; disable?: boolean };
  stop_grace_period?: string;
  restart?: string;
  init?: boolean;
}
interface Compose {
  services: Record<string, Service>;
  volumes?: Record<string, unknown>;
}

const compose = parse(read('docker-compose.yml')) as Compose;
const services = compose.services;

function service(name: string): Service {
  const found = services[name];
  if (!found) throw new Error(`docker-compose.yml has no service "${name}"`);
  return found;
}

function env(svc: Service): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  if (Array.isArray(svc.environment)) {
    for (const entry of svc.environment) {
      const eq = entry.indexOf('=');
      if (eq < 0) out[entry] = undefined;
      else out[entry.slice(0, eq)] = entry.slice(eq + 1);
    }
  } else {
    for (const [key, value] of Object.entries(svc.environment ?? {}))
      out[key] = value === null ? undefined : String(value);
  }
  return out;
}

interface Port {
  hostIp: string | undefined;
  published: string | undefined;
  target: number;
}

/** Short syntax `[HOST_IP:][HOST_PORT:]CONTAINER_PORT[/PROTOCOL]` or the long syntax. */
function ports(svc: Service): Port[] {
  return (svc.ports ?? []).map((p) => {
    if (typeof p === 'object') {
      return {
        hostIp: p.host_ip,
        published: p.published === undefined ? undefined : String(p.published),
        target: Number(p.target),
      };
    }
    const parts = String(p)
      .replace(/\/(tcp|udp)$/, '')
      .split(':');
    const target = Number(parts.pop());
    const published = parts.pop();
    const hostIp = parts.length ? parts.join(':') : undefined;
    return { hostIp, published, target };
  });
}

/** Ports other containers of the stack can reach: published or exposed. */
function containerPorts(svc: Service): number[] {
  return [
    ...ports(svc).map((p) => p.target),
    ...(svc.expose ?? []).map((p) => Number(String(p).replace(/\/(tcp|udp)$/, ''))),
  ];
}

function dependsOn(svc: Service): Record<string, string> {
  const deps = svc.depends_on ?? [];
  if (Array.isArray(deps)) return Object.fromEntries(deps.map((d) => [d, 'service_started']));
  return Object.fromEntries(Object.entries(deps).map(([name, d]) => [name, d.condition ?? 'service_started']));
}

function list(value: string | string[] | undefined): string[] {
  if (value === undefined) return [];
  return Array.isArray(value) ? value : value.split(/\s+/).filter(Boolean);
}

function volumes(svc: Service): { source: string | undefined; target: string }[] {
  return (svc.volumes ?? []).map((v) => {
    if (typeof v === 'object') return { source: v.source, target: v.target };
    const [source, target] = v.split(':');
    return target === undefined ? { source: undefined, target: source! } : { source, target };
  });
}

/** Tag of `repo[:tag][@digest]`; undefined when there is none. */
function imageTag(image: string): string | undefined {
  const name = image.split('@')[0]!;
  const colon = name.lastIndexOf(':');
  return colon > name.lastIndexOf('/') ? name.slice(colon + 1) : undefined;
}

function isPinned(image: string): boolean {
  const tag = imageTag(image);
  return tag !== undefined && tag !== 'latest' && /\d/.test(tag);
}

/** Compose durations: `45s`, `1m30s`, `500ms`. */
function composeDurationMs(value: string): number {
  const units: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  const parts = [...value.matchAll(/(\d+(?:\.\d+)?)(us|ms|s|m|h)/g)];
  if (!parts.length || parts.map((p) => p[0]).join('') !== value)
    throw new Error(`"${value}" is not a compose duration`);
  return parts.reduce((sum, p) => sum + Number(p[1]) * units[p[2]!]!, 0);
}

/** `host:port` → the compose service it names and the port. */
function hostPort(address: string): { host: string; port: number } {
  const match = /^([^:]+):(\d+)$/.exec(address);
  if (!match) throw new Error(`"${address}" is not host:port`);
  return { host: match[1]!, port: Number(match[2]) };
}

const worker = service('worker');
const workerEnv = env(worker);

describe('docker-compose.yml', () => {
  it('has the expected services', () => {
    expect(Object.keys(services).sort()).toEqual(
      [
        'app-db',
        'mailpit',
        'temporal',
        'temporal-db',
        'temporal-schema',
        'temporal-setup',
        'temporal-ui',
        'worker',
      ].sort(),
    );
  });

  it('builds or pins every image to an exact version tag', () => {
    for (const [name, svc] of Object.entries(services)) {
      expect(svc.build !== undefined || svc.image !== undefined, `${name}: neither build nor image`).toBe(true);
      if (svc.image !== undefined)
        expect(isPinned(svc.image), `${name}: image "${svc.image}" is not pinned`).toBe(true);
    }
    expect(worker.build).toBeDefined();
  });

  it('publishes every port on 127.0.0.1 only', () => {
    for (const [name, svc] of Object.entries(services)) {
      for (const [i, port] of ports(svc).entries()) {
        expect(port.hostIp, `${name}: ports[${i}] is published on every interface`).toBe('127.0.0.1');
        expect(port.published, `${name}: ports[${i}] has no fixed host port`).toMatch(/^\d+$/);
      }
    }
  });

  it('names only existing services in depends_on, and health only where a healthcheck is defined', () => {
    for (const [name, svc] of Object.entries(services)) {
      for (const [dep, condition] of Object.entries(dependsOn(svc))) {
        const target = service(dep);
        expect(['service_started', 'service_healthy', 'service_completed_successfully'], `${name} → ${dep}`).toContain(
          condition,
        );
        if (condition === 'service_healthy') {
          expect(
            target.healthcheck?.test,
            `${name} waits for ${dep} to be healthy, which has no healthcheck`,
          ).toBeDefined();
          expect(target.healthcheck?.disable).not.toBe(true);
        }
      }
    }
  });

  it('mounts only files of this repository and declared named volumes', () => {
    const named = Object.keys(compose.volumes ?? {});
    for (const [name, svc] of Object.entries(services)) {
      for (const { source, target } of volumes(svc)) {
        if (source === undefined) continue;
        if (source.startsWith('.') || source.startsWith('/')) {
          expect(source.startsWith('./'), `${name}: ${source} is outside the repository`).toBe(true);
          expect(exists(source), `${name}: ${source} (→ ${target}) does not exist`).toBe(true);
        } else {
          expect(named, `${name}: volume "${source}" is not declared`).toContain(source);
        }
      }
    }
  });

  it('keeps each database in a named volume, behind a healthcheck', () => {
    for (const name of ['app-db', 'temporal-db']) {
      const db = service(name);
      expect(db.image, name).toMatch(/^postgres:/);
      expect(db.healthcheck?.test, name).toBeDefined();
      const data = volumes(db).find((v) => v.target === '/var/lib/postgresql/data');
      expect(data?.source, `${name}: no named volume for its data`).toBeDefined();
      expect(Object.keys(compose.volumes ?? {})).toContain(data!.source);
    }
    expect(env(service('app-db')).POSTGRES_DB).toBe('mailer');
  });

  describe('the worker', () => {
    it('has an environment that src/config.ts accepts', () => {
      const config = loadConfig(workerEnv);
      expect(config.smtpUrl).toBeDefined();
      expect(config.temporal).toMatchObject({
        address: workerEnv.TEMPORAL_ADDRESS,
        namespace: 'default',
        taskQueue: 'email',
      });
    });

    it('sets only variables the service reads (no typos)', () => {
      const known = new Set([
        ...[...read('src/config.ts').matchAll(/'([A-Z][A-Z0-9_]{2,})'/g)].map((m) => m[1]!),
        ...[...read('src/worker.ts').matchAll(/process\.env\.([A-Z][A-Z0-9_]+)/g)].map((m) => m[1]!),
        // Temporal's connection variables are read by @temporalio/envconfig (see temporalConnection in src/config.ts).
        ...[
          ...read('node_modules/@temporalio/envconfig/lib/envconfig-toml.js').matchAll(/'(TEMPORAL_[A-Z0-9_]+)'/g),
        ].map((m) => m[1]!),
        'NODE_ENV',
      ]);
      for (const name of Object.keys(workerEnv))
        expect(known, `${name} is read by neither src/config.ts, src/worker.ts nor @temporalio/envconfig`).toContain(
          name,
        );
    });

    it('reaches Temporal at a service that serves that port', () => {
      const { host, port } = hostPort(workerEnv.TEMPORAL_ADDRESS ?? '');
      expect(port).toBe(7233);
      expect(containerPorts(service(host))).toContain(port);
      expect(service(host).image).toMatch(/^temporalio\//);
    });

    it('uses the app-db database with its credentials', () => {
      const url = new URL(workerEnv.DATABASE_URL ?? '');
      const db = service(url.hostname);
      const dbEnv = env(db);
      expect(db.image).toMatch(/^postgres:/);
      expect(url.port || '5432').toBe('5432'); // the postgres image's port
      expect(decodeURIComponent(url.username)).toBe(dbEnv.POSTGRES_USER);
      expect(decodeURIComponent(url.password)).toBe(dbEnv.POSTGRES_PASSWORD);
      expect(url.pathname.slice(1)).toBe(dbEnv.POSTGRES_DB);
    });

    it('delivers to the mailpit sink, and allows plain SMTP only towards it', () => {
      const config = loadConfig(workerEnv);
      const url = new URL(config.smtpUrl!);
      const sink = service(url.hostname);
      expect(sink.image).toMatch(/^axllent\/mailpit:/);
      expect(containerPorts(sink)).toContain(Number(url.port));
      // Plain SMTP to a remote host is acceptable for the sink only; a real
      // provider must use TLS (see the comment in docker-compose.yml).
      expect(config.smtp.allowPlaintext).toBe(true);
      expect(url.protocol).toBe('smtp:');
    });

    it('links to the Web UI the stack publishes', () => {
      const ui = new URL(workerEnv.TEMPORAL_UI_URL ?? '');
      expect(['localhost', '127.0.0.1']).toContain(ui.hostname);
      expect(ports(service('temporal-ui')).map((p) => p.published)).toContain(ui.port);
      expect(env(service('temporal-ui')).TEMPORAL_ADDRESS).toBe(workerEnv.TEMPORAL_ADDRESS);
    });

    it('starts after Postgres is healthy and the search attributes are registered', () => {
      expect(dependsOn(worker)).toMatchObject({
        'app-db': 'service_healthy',
        'temporal-setup': 'service_completed_successfully',
        mailpit: 'service_started',
      });
      expect(worker.restart).toBe('unless-stopped');
    });

    it('gets longer than WORKER_SHUTDOWN_GRACE to stop, so in-flight deliveries can finish', () => {
      const grace = loadConfig(workerEnv).worker.shutdownGraceMs;
      expect(worker.stop_grace_period, 'without it Docker kills the worker after 10s').toBeDefined();
      expect(composeDurationMs(worker.stop_grace_period!)).toBeGreaterThan(grace);
    });
  });

  describe('Temporal', () => {
    const temporal = service('temporal');
    const setup = service('temporal-setup');
    const setupEnv = env(setup);

    const schema = service('temporal-schema');

    it('runs temporalio/server on temporal-db, after the schema job', () => {
      const tEnv = env(temporal);
      expect(temporal.image).toMatch(/^temporalio\/server:/);
      expect(tEnv.DB).toBe('postgres12');
      expect(tEnv.POSTGRES_SEEDS).toBe('temporal-db');
      expect(tEnv.POSTGRES_USER).toBe(env(service('temporal-db')).POSTGRES_USER);
      expect(tEnv.POSTGRES_PWD).toBe(env(service('temporal-db')).POSTGRES_PASSWORD);
      expect(dependsOn(temporal)).toMatchObject({ 'temporal-schema': 'service_completed_successfully' });
      expect(dependsOn(schema)).toMatchObject({ 'temporal-db': 'service_healthy' });
      expect(temporal.healthcheck?.test).toBeDefined();
    });

    it('runs one Temporal version: the server, the admin tools and the server npm run test:production builds', () => {
      for (const name of ['temporal', 'temporal-schema', 'temporal-setup'])
        expect(imageTag(service(name).image!), name).toBe(TEMPORAL_SERVER_VERSION);
    });

    it('sets up the schemas of the very databases the server uses, with a script of this repository', () => {
      const tEnv = env(temporal);
      const sEnv = env(schema);
      for (const name of [
        'POSTGRES_SEEDS',
        'DB_PORT',
        'POSTGRES_USER',
        'POSTGRES_PWD',
        'DBNAME',
        'VISIBILITY_DBNAME',
      ]) {
        expect(sEnv[name], name).toBeDefined();
        expect(sEnv[name], name).toBe(tEnv[name]);
      }
      expect(schema.image).toMatch(/^temporalio\/admin-tools:/);
      const scriptPath = list(schema.entrypoint).find((arg) => arg.endsWith('.sh'));
      const mount = volumes(schema).find((v) => v.target === scriptPath);
      expect(mount?.source, `${scriptPath} is not mounted from the repository`).toMatch(/^\.\/docker\//);
      const script = read(mount!.source!);
      expect(script).toContain('create-database');
      expect(script).toContain('update-schema --schema-name "postgresql/v12/$schema"');
      expect(schema.restart).toBe('no');
    });

    it("uses the dev server's dynamic config (one task-queue partition)", () => {
      const file = env(temporal).DYNAMIC_CONFIG_FILE_PATH;
      expect(file).toBeDefined();
      const mount = volumes(temporal).find((v) => v.target === path.posix.join('/etc/temporal', file!));
      expect(mount?.source, `nothing mounted at /etc/temporal/${file}`).toBeDefined();
      const dynamic = parse(read(mount!.source!)) as Record<string, { value: unknown; constraints?: object }[]>;
      for (const setting of DEV_SERVER_DYNAMIC_CONFIG) {
        const [key, value] = setting.split('=') as [string, string];
        const typed =
          value === 'true' || value === 'false'
            ? value === 'true'
            : Number.isNaN(Number(value))
              ? value
              : Number(value);
        expect(dynamic[key], key).toEqual([{ value: typed, constraints: {} }]);
      }
    });

    it('registers exactly the search attributes of src/search-attributes.ts, with their types', () => {
      const expected = SEARCH_ATTRIBUTES.map((key) => `${key.name}=${CLI_TYPE_NAMES[key.type]}`).sort();
      expect(expected.every((pair) => !pair.endsWith('=undefined'))).toBe(true);
      const pairs = list(setup.command).filter((arg) => /^\w+=\w+$/.test(arg));
      expect(pairs.sort()).toEqual(expected);
      expect(list(setup.command)).toHaveLength(expected.length);
    });

    it('registers them with a script of this repository that takes them as arguments', () => {
      expect(setup.image).toMatch(/^temporalio\/admin-tools:/);
      const scriptPath = list(setup.entrypoint).find((arg) => arg.endsWith('.sh'));
      expect(scriptPath).toBeDefined();
      const mount = volumes(setup).find((v) => v.target === scriptPath);
      expect(mount?.source, `${scriptPath} is not mounted from the repository`).toMatch(/^\.\/docker\//);
      const script = read(mount!.source!);
      expect(script).toContain('"$@"');
      expect(script).toMatch(/operator namespace create/);
      expect(script).toMatch(/operator search-attribute create/);
      expect(script).toContain('already exists'); // idempotent
      expect(script).toContain('"$TEMPORAL_ADDRESS"');
      expect(script).toContain('"$NAMESPACE"');
    });

    it('registers them on the namespace and server the worker uses', () => {
      expect(setupEnv.TEMPORAL_ADDRESS).toBe(workerEnv.TEMPORAL_ADDRESS);
      expect(setupEnv.TEMPORAL_NAMESPACE ?? 'default').toBe(workerEnv.TEMPORAL_NAMESPACE ?? 'default');
      expect(dependsOn(setup)).toMatchObject({ temporal: 'service_healthy' });
    });
  });
});

// ---- Dockerfile --------------------------------------------------------------

interface Instruction {
  op: string;
  args: string;
}

function dockerfile(text: string): Instruction[] {
  const out: Instruction[] = [];
  let current = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!current && (line === '' || line.startsWith('#'))) continue;
    if (current && line.startsWith('#')) continue; // comment inside a continuation
    if (line.endsWith('\\')) {
      current += `${line.slice(0, -1)} `;
      continue;
    }
    current += line;
    const match = /^(\S+)\s*(.*)$/s.exec(current.trim());
    if (match) out.push({ op: match[1]!.toUpperCase(), args: match[2]!.trim() });
    current = '';
  }
  return out;
}

function words(args: string): string[] {
  if (args.startsWith('[')) return JSON.parse(args) as string[];
  return args.split(/\s+/).filter(Boolean);
}

/** COPY/ADD `[--flag…] src… dest`, shell or exec form. */
function copyArgs(ins: Instruction): { flags: string[]; sources: string[]; dest: string | undefined } {
  const [, flags = '', rest = ''] = /^((?:--\S+\s+)*)(.*)$/s.exec(ins.args) ?? [];
  const paths = words(rest);
  return { flags: flags.split(/\s+/).filter(Boolean), sources: paths.slice(0, -1), dest: paths.at(-1) };
}

const instructions = dockerfile(read('Dockerfile'));
const dockerignore = read('.dockerignore')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l && !l.startsWith('#'));

describe('Dockerfile', () => {
  const froms = instructions.flatMap((ins, index) =>
    ins.op === 'FROM' ? [{ index, words: words(ins.args).filter((w) => !w.startsWith('--')) }] : [],
  );
  const lastFrom = froms.at(-1)!.index;
  const finalStage = instructions.slice(lastFrom);

  it('has at least two stages on pinned base images', () => {
    expect(froms.length).toBeGreaterThanOrEqual(2);
    const stages: string[] = [];
    for (const { words: w } of froms) {
      const image = w[0]!;
      if (!stages.includes(image)) expect(isPinned(image), `FROM ${image} is not pinned`).toBe(true);
      if (w[1]?.toUpperCase() === 'AS' && w[2]) stages.push(w[2]);
    }
  });

  it('copies only files that exist in the repository and that .dockerignore lets through', () => {
    const copies = instructions.filter((ins) => ins.op === 'COPY' || ins.op === 'ADD');
    expect(copies.length).toBeGreaterThan(0);
    for (const ins of copies) {
      const { flags, sources } = copyArgs(ins);
      if (flags.some((f) => f.startsWith('--from='))) continue; // from another stage
      expect(sources.length, `COPY ${ins.args}`).toBeGreaterThan(0);
      for (const source of sources) {
        const clean = source.replace(/^\.\//, '').replace(/\/$/, '');
        expect(exists(clean), `COPY source ${source} does not exist`).toBe(true);
        const top = clean.split('/')[0];
        expect(dockerignore, `COPY source ${source} is excluded by .dockerignore`).not.toContain(top);
        expect(dockerignore).not.toContain(clean);
      }
    }
  });

  it('installs with npm ci and keeps production dependencies only', () => {
    const runs = instructions.filter((ins) => ins.op === 'RUN').map((ins) => ins.args);
    expect(
      runs.find((r) => /\bnpm ci\b/.test(r)),
      'no RUN npm ci',
    ).toBeDefined();
    expect(
      runs.some((r) => /\bnpm (ci|prune)\b[^&]*--omit=dev/.test(r)),
      'no npm ci/prune --omit=dev',
    ).toBe(true);
  });

  it('runs as a non-root user', () => {
    const cmdIndex = finalStage.findIndex((ins) => ins.op === 'CMD');
    expect(cmdIndex).toBeGreaterThan(0);
    const users = finalStage.slice(0, cmdIndex).filter((ins) => ins.op === 'USER');
    expect(users.length, 'no USER in the final stage before CMD').toBeGreaterThan(0);
    const user = users.at(-1)!.args.split(':')[0]!;
    expect(['root', '0']).not.toContain(user);
  });

  it('starts the compiled worker with plain node as the tests start it (WORKER_COMMAND), built in the build stage and copied over', () => {
    const cmd = finalStage.find((ins) => ins.op === 'CMD')!;
    expect(cmd.args.startsWith('['), 'CMD must be in exec form (signals reach node)').toBe(true);
    expect(words(cmd.args)).toEqual(['node', 'dist/worker.js']);
    expect(words(cmd.args)).toEqual([...WORKER_COMMAND]);
    const runs = instructions
      .slice(0, lastFrom)
      .filter((ins) => ins.op === 'RUN')
      .map((ins) => ins.args);
    expect(runs.some((r) => r.includes('node scripts/build.mjs'))).toBe(true);
    const fromBuild = finalStage
      .filter((ins) => ins.op === 'COPY')
      .map(copyArgs)
      .filter((c) => c.flags.some((f) => f.startsWith('--from=')));
    expect(fromBuild.flatMap((c) => c.sources).map((s) => s.replace(/^\/app\//, ''))).toEqual(
      expect.arrayContaining(['node_modules', 'dist']),
    );
    const copied = finalStage
      .filter((ins) => ins.op === 'COPY')
      .map(copyArgs)
      .filter((c) => !c.flags.some((f) => f.startsWith('--from=')))
      .flatMap((c) => c.sources)
      .map((s) => s.replace(/^\.\//, '').replace(/\/$/, ''));
    for (const needed of ['package.json', 'migrations']) expect(copied).toContain(needed);
    // Nothing that runs TypeScript at run time.
    const pkg = JSON.parse(read('package.json')) as { dependencies?: Record<string, string> };
    expect(Object.keys(pkg.dependencies ?? {})).not.toContain('tsx');
  });
});

describe('.dockerignore', () => {
  it('keeps local dependencies and data out of the build context', () => {
    for (const entry of ['node_modules', '.data']) {
      expect(dockerignore.map((l) => l.replace(/^\//, '').replace(/\/$/, ''))).toContain(entry);
    }
  });
});
