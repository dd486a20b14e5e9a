// What docker-compose.yml tells the Temporal services, read from the file
// itself: the production-parity stack starts the same server with the same
// variables, runs the same setup scripts with the same arguments and mounts
// the same dynamic config, so the two cannot drift apart.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';

const root = path.resolve(import.meta.dirname, '../..');
export const composeFile = path.join(root, 'docker-compose.yml');

interface Service {
  image?: string;
  environment?: Record<string, string | number | boolean | null> | string[];
  command?: string | string[];
  entrypoint?: string | string[];
  volumes?: (string | { source?: string; target: string })[];
}

export interface ComposeService {
  image: string | undefined;
  environment: Record<string, string>;
  command: string[];
  entrypoint: string[];
  /** Container path → absolute path in this repository, for every bind mount of a repository file. */
  mounts: Map<string, string>;
}

function list(value: string | string[] | undefined): string[] {
  if (value === undefined) return [];
  return Array.isArray(value) ? value : value.split(/\s+/).filter(Boolean);
}

export function composeService(name: string, file = composeFile): ComposeService {
  const services = (parse(readFileSync(file, 'utf8')) as { services: Record<string, Service> }).services;
  const svc = services[name];
  if (!svc) throw new Error(`${file} has no service "${name}"`);
  const environment: Record<string, string> = {};
  if (Array.isArray(svc.environment)) {
    for (const entry of svc.environment) {
      const eq = entry.indexOf('=');
      if (eq > 0) environment[entry.slice(0, eq)] = entry.slice(eq + 1);
    }
  } else {
    for (const [key, value] of Object.entries(svc.environment ?? {}))
      if (value !== null) environment[key] = String(value);
  }
  const mounts = new Map<string, string>();
  for (const volume of svc.volumes ?? []) {
    const { source, target } =
      typeof volume === 'object' ? volume : { source: volume.split(':')[0], target: volume.split(':')[1] ?? '' };
    if (source?.startsWith('./')) mounts.set(target, path.join(path.dirname(file), source));
  }
  return { image: svc.image, environment, command: list(svc.command), entrypoint: list(svc.entrypoint), mounts };
}

/** The repository file a service runs as `entrypoint: ["/bin/sh", "<mounted script>"]`. */
export function mountedScript(svc: ComposeService): string {
  const inContainer = svc.entrypoint.find((arg) => arg.endsWith('.sh'));
  const local = inContainer && svc.mounts.get(inContainer);
  if (!local)
    throw new Error(
      `the service's entrypoint runs no script mounted from the repository (${svc.entrypoint.join(' ')})`,
    );
  return local;
}
