// `npm run bench -- --smoke` works end to end: it starts its own stack (on free
// ports, beside the one the global setup started), runs every phase at tiny
// sizes, writes the JSON and the SVG, and leaves nothing behind. Only sanity is
// asserted here — never speed: the figures depend on the machine.
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { recordedPaths } from '../bench/actions.ts';
import type { BenchResults } from '../bench/results.ts';
import { DEFAULT_PHASES } from '../bench/results.ts';
import { projectRoot } from '../dev/stack/index.ts';

const run = promisify(execFile);
let out: string | undefined;
afterAll(async () => {
  if (out) await rm(out, { recursive: true, force: true });
});

describe('billable Actions', () => {
  it("counts the recorded histories by Temporal Cloud's definition", async () => {
    const paths = Object.fromEntries(
      (await recordedPaths(path.join(projectRoot, 'test/fixtures/histories'))).map((p) => [p.file, p.actions]),
    );
    // Start, the two local activities' markers (one workflow task: one Action), deliver, the final status upsert.
    expect(paths['send-email-sent.json']).toEqual({
      total: 4,
      byKind: {
        'workflow started': 1,
        'local activities (one per workflow task)': 1,
        'activity scheduled': 1,
        'search attributes upserted': 1,
      },
    });
    // The same plus a failed attempt: its two upserts (attempt and error class; status retrying), the backoff timer, a second deliver.
    expect(paths['send-email-retried-then-sent.json']?.total).toBe(8);
    expect(paths['send-email-blocked.json']?.total).toBe(3);
  });
});

describe('npm run bench --smoke', () => {
  it('runs every phase and writes sane figures', { timeout: 240_000 }, async () => {
    out = await mkdtemp(path.join(os.tmpdir(), 'mailer-bench-test-'));
    // The bench sets every service variable itself; none of the test run's may leak in.
    const env = { ...process.env };
    for (const name of ['TEMPORAL_ADDRESS', 'DATABASE_URL', 'SMTP_URL']) delete env[name];
    const { stdout } = await run(process.execPath, ['--import', 'tsx', 'bench/run.ts', '--smoke', '--out', out], {
      cwd: projectRoot,
      env,
      timeout: 230_000,
      maxBuffer: 10 * 1024 * 1024,
    });
    expect(stdout).toContain('Throughput at saturation');

    const files = (await readdir(out)).sort();
    const json = files.find((f) => f.endsWith('.json'));
    const svg = files.find((f) => f.endsWith('.svg'));
    expect(json, `files in ${out}: ${files.join(', ')}`).toBeDefined();
    expect(svg).toBeDefined();
    expect(await readFile(path.join(out, svg!), 'utf8')).toMatch(
      /^<svg [^>]*xmlns="http:\/\/www\.w3\.org\/2000\/svg"[\s\S]*<\/svg>\s*$/,
    );

    const r = JSON.parse(await readFile(path.join(out, json!), 'utf8')) as BenchResults;
    const { smtp, engine, work, pipeline, latency, ratelimit, backlog } = r.phases;
    expect(Object.keys(r.phases).sort()).toEqual([...DEFAULT_PHASES].sort());

    // Every setting and version is on record.
    expect(r.options).toMatchObject({ smoke: true });
    expect(r.environment).toMatchObject({
      node: process.version,
      cores: expect.any(Number),
      cpuModel: expect.any(String),
    });
    expect(r.environment.temporalSdk).toMatchObject({ worker: expect.stringMatching(/^\d+\.\d+\.\d+/) });
    expect(JSON.stringify(r.environment.postgres)).toMatch(/PostgreSQL \d+/);
    expect(JSON.stringify(r.environment.temporalDevServer)).toContain('matching.numTaskqueueReadPartitions=1');

    expect(smtp!.perSecond).toBeGreaterThan(0);
    expect(smtp!.failed).toBe(0);
    expect(engine!.perSecond).toBeGreaterThan(0);
    // The floor is the product's own workflow, so the shortest histories of the two are the same length.
    expect(engine!.workflowType).toBe('sendEmail');
    expect(Math.min(...engine!.historyEvents.samples)).toBe(Math.min(...pipeline!.historyEvents.samples));
    const minimal = r.phases['engine-minimal']!;
    expect(minimal.perSecond).toBeGreaterThan(0);
    expect(minimal.historyEvents.mean).toBe(11); // started, a workflow task (3 events), the activity (3), a workflow task (3), completed
    // Under heavy load a lost activity task can fail an empty workflow; the bench reports it.
    expect(engine!.completed).toBeGreaterThanOrEqual(0.9 * engine!.workflows);
    // The work floor runs the same activities with no engine: every email sent, by Postgres's own count.
    expect(work!.sent).toBe(work!.emails);
    expect(work!.statuses).toEqual({ sent: work!.emails });
    expect(work!.perSecond).toBeGreaterThan(0);
    expect(work!.cpu.perItemMs.temporal).toBeLessThan(pipeline!.cpu.perItemMs.temporal!);
    expect(pipeline!.ratioToWork?.throughput).toBeGreaterThan(0);
    expect(pipeline!.perSecond).toBeGreaterThan(0);
    expect(pipeline!.submitPerSecond).toBeGreaterThan(0);
    expect(pipeline!.statuses).toEqual({ sent: pipeline!.emails });

    for (const events of [engine!.historyEvents, pipeline!.historyEvents]) {
      expect(events.mean).toBeGreaterThanOrEqual(5);
      expect(events.mean).toBeLessThanOrEqual(200);
    }
    expect(pipeline!.cpu.perItemMs.total).toBeGreaterThan(0);
    expect(pipeline!.cpu.perItemMs.temporal).toBeGreaterThan(0);
    expect(pipeline!.memory.workerPeakRssBytes).toBeGreaterThan(10 * 1024 * 1024);

    expect(latency!.levels.map((l) => l.loadPercent)).toEqual([25, 50, 75]);
    for (const level of latency!.levels) {
      expect(level.delivered).toBe(level.emails);
      expect(level.latencyMs.p50).toBeGreaterThan(0);
      expect(level.latencyMs.p50).toBeLessThanOrEqual(level.latencyMs.p95);
      expect(level.latencyMs.p95).toBeLessThanOrEqual(level.latencyMs.p99);
    }

    expect(ratelimit!.runs.length).toBeGreaterThanOrEqual(1);
    for (const run of ratelimit!.runs) {
      expect(run.ratePerSecond).toBeGreaterThan(0);
      expect(run.steadyRatePerSecond).toBeGreaterThan(0);
      expect(run.firstSecond).toBeGreaterThan(0);
      expect(run.maxIn1s).toBeGreaterThan(0);
    }

    // Actions by Temporal Cloud's definition, counted from this run's histories: a retry costs more than the first attempt.
    const costs = r.costs!;
    const first = costs.paths.find((p) => p.path === 'sent at the first attempt')!;
    const retried = costs.paths.find((p) => p.path === 'retried, then sent')!;
    expect(first.actions).toBeGreaterThanOrEqual(2); // at least the start and the delivery
    expect(retried.actions).toBeGreaterThan(first.actions);
    expect(first.perMillionEmails).toBe(first.actions * costs.prices.temporalPerMillionActions!);
    expect(stdout).toContain('Billable Actions per email');
    const outbox = r.phases.outbox!;
    expect(outbox.runs.map((run) => run.kind)).toEqual(['direct', 'steady', 'burst']);
    for (const run of outbox.runs) {
      expect(run.commitToStartedMs.n).toBe(run.commits - run.notStarted);
      expect(run.commitToStartedMs.p50).toBeLessThanOrEqual(run.commitToStartedMs.p99);
    }

    expect(backlog!.sent).toBe(backlog!.emails);
    expect(backlog!.drainSeconds).toBeGreaterThan(0);
    expect(backlog!.maxIn1s).toBeGreaterThan(0);

    const priority = r.phases.priority!;
    expect(priority.urgent).toHaveLength(2);
    for (const u of priority.urgent) expect(u.latencyMs).toBeGreaterThan(0);
    expect(priority.fairness.window).toBe(priority.fairness.late);
    expect(priority.fairness.shareB).toBeGreaterThanOrEqual(0);
  });
});
