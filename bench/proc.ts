// What the kernel knows about the bench's processes: CPU time (utime + stime,
// plus cutime + cstime for children a process has already reaped — Postgres
// backends come and go) summed over process trees, resident memory, and the
// machine itself. Linux only (/proc).
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

let clockTicks: number | undefined;
/** USER_HZ: the unit of the CPU fields in /proc/<pid>/stat and /proc/stat. */
export function ticksPerSecond(): number {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

export interface ProcStat {
  pid: number;
  ppid: number;
  comm: string;
  /** utime + stime of the process (all its threads), in ticks. */
  ticks: number;
  /** cutime + cstime: children it has waited for, in ticks. */
  childTicks: number;
}

export function readStat(pid: number): ProcStat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined; // gone
  }
  // comm is in parentheses and may itself contain spaces or ')'.
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  const fields = text.slice(close + 2).split(' ');
  // fields[0] is field 3 (state): ppid = 4, utime = 14, stime = 15, cutime = 16, cstime = 17.
  const n = (field: number) => Number(fields[field - 3] ?? 0);
  return { pid, ppid: n(4), comm: text.slice(open + 1, close), ticks: n(14) + n(15), childTicks: n(16) + n(17) };
}

/** Every process on the machine, by pid. */
export function processTable(): Map<number, ProcStat> {
  const table = new Map<number, ProcStat>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const stat = readStat(Number(name));
    if (stat) table.set(stat.pid, stat);
  }
  return table;
}

/** `root` and every process below it. */
export function subtree(table: Map<number, ProcStat>, root: number): number[] {
  const children = new Map<number, number[]>();
  for (const p of table.values()) {
    const list = children.get(p.ppid) ?? [];
    list.push(p.pid);
    children.set(p.ppid, list);
  }
  const out: number[] = [];
  const stack = [root];
  while (stack.length) {
    const pid = stack.pop()!;
    if (!table.has(pid)) continue;
    out.push(pid);
    stack.push(...(children.get(pid) ?? []));
  }
  return out;
}

export type CpuGroup = 'bench' | 'worker' | 'temporal' | 'postgres' | 'otherChildren' | 'exitedChildren';
export const CPU_GROUPS: CpuGroup[] = ['worker', 'temporal', 'postgres', 'bench', 'otherChildren', 'exitedChildren'];

export interface CpuSnapshot {
  at: number;
  /** Ticks per group: the bench process itself (client + SMTP sink), worker children, Temporal, Postgres. */
  groups: Record<CpuGroup, number>;
  /** Busy ticks of the whole machine (all cores), from /proc/stat. */
  machineBusy: number;
  machineTotal: number;
  pids: Record<'temporal' | 'postgres', number | undefined>;
}

function machineTicks(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
  const [, user, nice, system, idle, iowait, irq, softirq, steal] = line.trim().split(/\s+/).map(Number);
  const busy = (user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0) + (steal ?? 0);
  return { busy, total: busy + (idle ?? 0) + (iowait ?? 0) };
}

/**
 * CPU ticks used so far, per group. The direct children of this process are
 * classified by name (postgres, temporal*) or by being one of `workerPids`;
 * each group sums its whole process tree, including reaped children.
 */
export function cpuSnapshot(workerPids: number[]): CpuSnapshot {
  const table = processTable();
  const self = table.get(process.pid);
  // A child that exited and was reaped (an earlier phase's worker) moves its time into our cutime.
  const groups: Record<CpuGroup, number> = {
    bench: self?.ticks ?? 0,
    worker: 0,
    temporal: 0,
    postgres: 0,
    otherChildren: 0,
    exitedChildren: self?.childTicks ?? 0,
  };
  const pids: CpuSnapshot['pids'] = { temporal: undefined, postgres: undefined };
  const workers = new Set(workerPids);
  for (const child of table.values()) {
    if (child.ppid !== process.pid) continue;
    let group: CpuGroup = 'otherChildren';
    if (workers.has(child.pid)) group = 'worker';
    else if (child.comm.startsWith('temporal')) group = 'temporal';
    else if (child.comm === 'postgres') group = 'postgres';
    if (group === 'temporal' || group === 'postgres') pids[group] = child.pid;
    for (const pid of subtree(table, child.pid)) {
      const p = table.get(pid)!;
      groups[group] += p.ticks + p.childTicks;
    }
  }
  const machine = machineTicks();
  return { at: performance.now(), groups, machineBusy: machine.busy, machineTotal: machine.total, pids };
}

export interface CpuDelta {
  seconds: number;
  /** CPU milliseconds per group over the interval. */
  ms: Record<CpuGroup, number>;
  totalMs: number;
  /** Busy CPU milliseconds of the whole machine; minus totalMs = what other processes used. */
  machineBusyMs: number;
  machineCapacityMs: number;
}

export function cpuDelta(before: CpuSnapshot, after: CpuSnapshot): CpuDelta {
  const toMs = (ticks: number) => (ticks * 1000) / ticksPerSecond();
  const ms = {} as Record<CpuGroup, number>;
  let total = 0;
  for (const g of CPU_GROUPS) {
    ms[g] = toMs(after.groups[g] - before.groups[g]);
    total += ms[g];
  }
  return {
    seconds: (after.at - before.at) / 1000,
    ms,
    totalMs: total,
    machineBusyMs: toMs(after.machineBusy - before.machineBusy),
    machineCapacityMs: toMs(after.machineTotal - before.machineTotal),
  };
}

/** VmRSS and VmHWM (peak) of a process, in bytes. */
export function memoryOf(pid: number): { rss: number; peak: number } | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0) * 1024;
    return { rss: kb('VmRSS'), peak: kb('VmHWM') };
  } catch {
    return undefined;
  }
}

/** Resident memory of a whole process tree (sum of RSS; shared pages count once per process). */
export function treeRss(rootPid: number): number {
  const table = processTable();
  return subtree(table, rootPid).reduce((sum, pid) => sum + (memoryOf(pid)?.rss ?? 0), 0);
}

/** The command line of a process, for the record (what the stack really ran). */
export function cmdline(pid: number | undefined): string[] | undefined {
  if (!pid) return undefined;
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  } catch {
    return undefined;
  }
}

/** The machine: CPU model, cores, memory, kernel, and the filesystem the data lives on. */
export function machineInfo(dataDir: string) {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  const model = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? os.cpus()[0]?.model ?? 'unknown';
  const mhz = /^cpu MHz\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim();
  let nproc = os.availableParallelism();
  try {
    nproc = Number(execFileSync('nproc', { encoding: 'utf8' }).trim()) || nproc;
  } catch {
    // keep availableParallelism
  }
  return {
    cpuModel: model,
    cpuMhz: mhz ? Number(mhz) : undefined,
    cores: nproc,
    logicalCpus: os.cpus().length,
    totalMemoryBytes: os.totalmem(),
    kernel: `${os.type()} ${os.release()}`,
    dataFilesystem: filesystemOf(dataDir),
    loadAverage: os.loadavg(),
  };
}

/** The mount holding `dir` (device, type, options), from /proc/mounts. */
function filesystemOf(dir: string): { mountPoint: string; device: string; type: string; options: string } | undefined {
  let best: { mountPoint: string; device: string; type: string; options: string } | undefined;
  const target = path.resolve(dir);
  for (const line of readFileSync('/proc/mounts', 'utf8').split('\n')) {
    const [device, mountPoint, type, options] = line.split(' ');
    if (!device || !mountPoint || !type) continue;
    const mp = mountPoint.replace(/\\040/g, ' ');
    const inside = target === mp || target.startsWith(mp.endsWith('/') ? mp : `${mp}/`);
    if (inside && (!best || mp.length >= best.mountPoint.length))
      best = { mountPoint: mp, device, type, options: options ?? '' };
  }
  return best;
}
