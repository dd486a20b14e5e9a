// The printed summary of a bench run: plain-text tables, one per phase.
import type { PersistencePerEmail } from './persistence.ts';
import type { BenchResults, CompareResult, CostResult, CpuResult, HistorySample } from './results.ts';

type PipelineTimeline = HistorySample['timelineMs'];
/** The work floor has no history: its timeline cells print as —. */
const NO_TIMELINE: PipelineTimeline = {
  total: Number.NaN,
  workflowTaskQueued: Number.NaN,
  workflowTaskRunning: Number.NaN,
  activityQueued: Number.NaN,
  activityRunning: Number.NaN,
};

function table(header: string[], rows: (string | number)[][]): string {
  const cells = [header, ...rows.map((r) => r.map(String))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) =>
    `  ${r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('   ')}`.trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...cells.slice(1).map(line)].join('\n');
}

const n1 = (v: number | undefined) => (v === undefined || !Number.isFinite(v) ? '—' : v.toFixed(1));
const pct = (v: number | undefined) => (v === undefined || !Number.isFinite(v) ? '—' : `${(v * 100).toFixed(0)} %`);
const mib = (v: number | undefined) => (v === undefined ? '—' : `${(v / 1024 / 1024).toFixed(0)} MiB`);
const times = (v: number | undefined) => (v === undefined || !Number.isFinite(v) ? '—' : `${v.toFixed(2)}×`);
const signed = (v: number) => `${v >= 0 ? '+' : ''}${v.toFixed(1)} %`;

export function renderTable(r: BenchResults): string {
  const env = r.environment as {
    cores?: number;
    cpuModel?: string;
    totalMemoryBytes?: number;
    node?: string;
    temporalSdk?: { worker?: string };
    temporalVersion?: string;
    postgres?: { version?: string; settings?: Record<string, string> };
    temporalDevServer?: { sqlitePragmas?: string[] | string };
  };
  const out: string[] = [];
  out.push(`mailer bench ${r.startedAt}${r.options.smoke ? '  (SMOKE: tiny sizes, figures not meaningful)' : ''}`);
  out.push(`  machine  ${env.cores} cores, ${env.cpuModel}, ${((env.totalMemoryBytes ?? 0) / 2 ** 30).toFixed(1)} GiB`);
  out.push(
    `  software Node ${env.node}, @temporalio ${env.temporalSdk?.worker}, ${env.temporalVersion}, ${(env.postgres?.version ?? '').split(' on ')[0]} (fsync ${env.postgres?.settings?.fsync})`,
  );
  const pragmas = env.temporalDevServer?.sqlitePragmas;
  out.push(`  dev server SQLite pragmas: ${Array.isArray(pragmas) ? pragmas.join(', ') : (pragmas ?? '—')}`);

  const { smtp, engine, work, pipeline, latency, ratelimit, backlog } = r.phases;
  const regular = r.phases['engine-regular'];
  const minimal = r.phases['engine-minimal'];
  if (smtp || engine || regular || minimal || work || pipeline) {
    out.push('', 'Throughput at saturation');
    const rows: (string | number)[][] = [];
    const ratio = (x: { perSecond: number } | undefined) =>
      pct(pipeline && x ? pipeline.perSecond / x.perSecond : undefined);
    const cpuRatio = (x: { cpu: CpuResult } | undefined) =>
      times(pipeline && x ? pipeline.cpu.perItemMs.total! / x.cpu.perItemMs.total! : undefined);
    if (smtp)
      rows.push([
        `SMTP limit: nodemailer pool of ${smtp.poolSize} → sink, ${smtp.inFlight} in flight`,
        `${n1(smtp.perSecond)} msg/s`,
        smtp.messages,
        pct(pipeline?.ratioToSmtp),
        '',
      ]);
    if (work)
      rows.push([
        `Work floor: send()'s insert + the 3 activities in-process, no engine, ${work.concurrency} in flight`,
        `${n1(work.perSecond)} emails/s`,
        work.sent,
        ratio(work),
        cpuRatio(work),
      ]);
    if (minimal)
      rows.push([
        `Engine baseline: minimal workflows (1 no-op activity), ${minimal.submitConcurrency} starts in flight`,
        `${n1(minimal.perSecond)} wf/s`,
        minimal.workflows,
        ratio(minimal),
        cpuRatio(minimal),
      ]);
    if (engine)
      rows.push([
        `Engine floor: sendEmail with no-op activities, ${engine.submitConcurrency} starts in flight`,
        `${n1(engine.perSecond)} wf/s`,
        engine.workflows,
        pct(pipeline?.ratioToEngine),
        cpuRatio(engine),
      ]);
    if (regular)
      rows.push([
        '  the old shape, before the fast path (3 regular activities)',
        `${n1(regular.perSecond)} wf/s`,
        regular.workflows,
        ratio(regular),
        cpuRatio(regular),
      ]);
    if (pipeline) {
      rows.push([
        `Full pipeline: send() → sent, ${pipeline.submitConcurrency} send() in flight`,
        `${n1(pipeline.perSecond)} emails/s`,
        pipeline.emails,
        '100 %',
        '1.00×',
      ]);
      rows.push([
        '  send() alone (record insert + workflow start)',
        `${n1(pipeline.submitPerSecond)} sends/s`,
        pipeline.emails,
        '',
        '',
      ]);
    }
    out.push(table(['', 'rate', 'n', 'pipeline ÷ this', 'pipeline CPU/email ÷ this'], rows));
    if (pipeline && work) {
      const engineMs = pipeline.cpu.perItemMs.total! - work.cpu.perItemMs.total!;
      out.push(
        `  the engine's tax: the pipeline runs at ${pct(pipeline.ratioToWork?.throughput)} of the work floor's rate and spends ${n1(engineMs)} CPU ms per email more than the work itself (${n1(work.cpu.perItemMs.total)} ms)`,
      );
    }
  }
  if (pipeline) {
    out.push('', 'Per delivered email (saturation phase)');
    // One column per measured workload, the pipeline first.
    const columns: {
      title: string;
      x: {
        cpu: CpuResult;
        persistence?: PersistencePerEmail;
        historyEvents: { mean: number; timelineMs: PipelineTimeline };
      };
    }[] = [
      { title: 'pipeline', x: pipeline },
      ...(work
        ? [
            {
              title: 'work floor',
              x: { cpu: work.cpu, persistence: work.persistence, historyEvents: { mean: 0, timelineMs: NO_TIMELINE } },
            },
          ]
        : []),
      ...(engine ? [{ title: 'engine floor', x: engine }] : []),
      ...(minimal ? [{ title: 'minimal wf', x: minimal }] : []),
      ...(regular ? [{ title: 'floor, old shape', x: regular }] : []),
    ];
    const cpuRow = (label: string, key: string) => [label, ...columns.map((c) => n1(c.x.cpu.perItemMs[key]))];
    const tl = (key: keyof PipelineTimeline) => columns.map((c) => n1(c.x.historyEvents.timelineMs[key]));
    const busy = (x: { machineBusyMs: number; machineCapacityMs: number; totalMs: number }, outside: boolean) =>
      `${n1(Math.max(0, (outside ? x.machineBusyMs - x.totalMs : x.machineBusyMs) / x.machineCapacityMs) * 100)} %`;
    out.push(
      table(
        ['', ...columns.map((c) => c.title)],
        [
          ['history events', ...columns.map((c) => (c.title === 'work floor' ? '—' : `${c.x.historyEvents.mean}`))],
          cpuRow('CPU ms, all processes', 'total'),
          cpuRow('  worker process', 'worker'),
          cpuRow('  Temporal dev server', 'temporal'),
          cpuRow('  Postgres (all backends)', 'postgres'),
          cpuRow('  bench: send() client + SMTP sink', 'bench'),
          [
            'Postgres WAL records / fsyncs',
            ...columns.map((c) =>
              c.x.persistence ? `${c.x.persistence.postgresWalRecords} / ${c.x.persistence.postgresWalFsyncs}` : '—',
            ),
          ],
          [
            'Postgres WAL bytes',
            ...columns.map((c) => (c.x.persistence ? `${c.x.persistence.postgresWalBytes}` : '—')),
          ],
          [
            'Temporal: bytes written to disk',
            ...columns.map((c) => (c.x.persistence ? `${c.x.persistence.temporalDiskBytes}` : '—')),
          ],
          ['workflow time, first → last event (ms)', ...tl('total')],
          ['  workflow tasks waiting in queue', ...tl('workflowTaskQueued')],
          ['  workflow tasks running', ...tl('workflowTaskRunning')],
          ['  activities waiting in queue', ...tl('activityQueued')],
          ['  activities running', ...tl('activityRunning')],
          ['machine busy during the phase', ...columns.map((c) => busy(c.x.cpu, false))],
          ['  of which outside the bench', ...columns.map((c) => busy(c.x.cpu, true))],
        ],
      ),
    );
    out.push(
      `  workflow time = mean over ${pipeline.historyEvents.samples.length} sampled histories; at saturation every email is submitted long before the engine reaches it, so queue waits dominate`,
    );
    out.push(
      `  worker peak RSS ${mib(pipeline.memory.workerPeakRssBytes)}, Temporal peak RSS ${mib(pipeline.memory.temporalPeakRssBytes)}, Postgres processes' RSS (sum) ≤ ${mib(pipeline.memory.postgresMaxTreeRssBytes)}`,
    );
    out.push(
      `  send() duration at saturation: p50 ${pipeline.sendMs.p50} ms, p99 ${pipeline.sendMs.p99} ms; last sent at ${pipeline.elapsedSeconds} s, last workflow closed at ${pipeline.allClosedSeconds ?? '—'} s`,
    );
  }
  if (latency) {
    out.push(
      '',
      `Latency send() returned → SMTP sink accepted (open loop; saturation ${n1(latency.saturationRate)} emails/s)`,
    );
    out.push(
      table(
        ['load', 'target/s', 'achieved/s', 'n', 'p50 ms', 'p95 ms', 'p99 ms', 'max ms', 'send() p99 ms'],
        latency.levels.map((l) => [
          `${l.loadPercent} %`,
          l.targetRate.toFixed(1),
          l.achievedRate.toFixed(1),
          l.delivered,
          l.latencyMs.p50,
          l.latencyMs.p95,
          l.latencyMs.p99,
          l.latencyMs.max,
          l.sendMs.p99,
        ]),
      ),
    );
  }
  if (ratelimit) {
    out.push(
      '',
      `Global rate limit EMAIL_RATE_LIMIT=${ratelimit.limitPerSecond}/s (worker processes share one task-queue limit)`,
    );
    out.push(
      table(
        [
          'workers',
          'seconds',
          'delivered',
          'rate/s',
          'error vs limit',
          'first 1 s',
          'from 2 s: rate/s',
          'error',
          'max in 1 s: accepted',
          'dispatched',
          'after 2 s',
          'queue wait p50',
          'limit binding?',
        ],
        ratelimit.runs.map((run) => [
          run.workers,
          run.seconds,
          run.delivered,
          run.ratePerSecond.toFixed(2),
          signed(run.errorPercent),
          run.firstSecond ?? '—',
          run.steadyRatePerSecond?.toFixed(2) ?? '—',
          run.steadyErrorPercent === undefined ? '—' : signed(run.steadyErrorPercent),
          run.maxIn1s,
          run.maxIn1sDispatched,
          run.maxIn1sDispatchedAfter2s,
          `${(run.deliverQueueWaitMs.p50 / 1000).toFixed(1)} s`,
          run.limitBinding ? 'yes' : 'no: engine-bound',
        ]),
      ),
    );
    out.push(
      "  rate = over the window from the first delivery, including the limiter's initial burst (Temporal's token bucket starts full,",
    );
    out.push(
      '  one bucketful = the rate); from 2 s = a window of the same length starting 2 s later: the rate the limiter keeps;',
    );
    out.push(
      "  accepted = by the sink's receive times; dispatched = by when Temporal started deliver (history), i.e. the limiter itself;",
    );
    out.push('  after 2 s = the same without the first 2 s; queue wait = deliver scheduled → started');
  }
  if (backlog) {
    out.push(
      '',
      `Backlog drain: ${backlog.emails} emails submitted while the sink was down (${Object.entries(backlog.settings)
        .map(([k, v]) => `${k}=${v}`)
        .join(', ')})`,
    );
    out.push(
      table(
        ['', ''],
        [
          [
            'outage (sink down → up)',
            `${backlog.outageSeconds.toFixed(1)} s; ${backlog.emailsTriedBeforeReopen} emails had failed once; ${backlog.failedAttempts} failed attempts in all`,
          ],
          [
            'drain (sink up → last sent)',
            `${backlog.drainSeconds.toFixed(1)} s (ideal at the limit: ${backlog.idealDrainSeconds.toFixed(1)} s), ${n1(backlog.drainPerSecond)} emails/s`,
          ],
          [
            'max in any 1 s vs limit',
            `${backlog.maxIn1sDispatched} dispatched (${(backlog.maxIn1sDispatched / backlog.limitPerSecond).toFixed(2)}× the limit), ${backlog.maxIn1s} accepted vs ${backlog.limitPerSecond}: ${backlog.limitHeld ? 'held (≤ 2×: one bucketful on top of the rate)' : 'EXCEEDED (> 2× the limit)'}${backlog.limitBinding ? '' : ' (the limit did not bind: the drain ran below it)'}`,
          ],
        ],
      ),
    );
    out.push(
      '  (the retry backoff is capped at 5 s for this phase: with the default 10 min cap, emails would wait for their next attempt long after the sink returned)',
    );
  }
  const outbox = r.phases.outbox;
  if (outbox) {
    out.push(
      '',
      "Enqueue in the caller's transaction: COMMIT returned → the relay started the workflow (target p50 ≤ 100 ms, p99 ≤ 1 s)",
    );
    out.push(
      table(
        ['workers', 'commits', 'arrivals', 'p50 ms', 'p95 ms', 'p99 ms', 'max ms', 'load avg'],
        outbox.runs.map((run) => [
          run.workers,
          run.commits,
          run.kind === 'direct'
            ? `${run.rate}/s, plain send() (called → started)${run.notStarted ? `; ${run.notStarted} missed the 5 s start deadline` : ''}`
            : run.kind === 'steady'
              ? `${run.rate}/s steady`
              : `burst, ${run.inFlight} in flight (${n1(run.commits / run.submitSeconds)}/s)`,
          run.commitToStartedMs.p50,
          run.commitToStartedMs.p95,
          run.commitToStartedMs.p99,
          run.commitToStartedMs.max,
          run.loadAverage.toFixed(1),
        ]),
      ),
    );
  }
  const priority = r.phases.priority;
  if (priority) {
    out.push(
      '',
      `Priority under EMAIL_RATE_LIMIT=${priority.limitPerSecond}/s: a high-priority email behind a batch of ${priority.batch} normal ones`,
    );
    out.push(
      table(
        ['high-priority email submitted', 'send() → sink', 'queued at the limit', 'batch emails it overtook'],
        priority.urgent.map((u) => [
          u.when,
          `${(u.latencyMs / 1000).toFixed(2)} s`,
          u.deliverBacklog,
          u.batchUndelivered,
        ]),
      ),
    );
    out.push(
      `  the limit while it cut in: ${priority.rate.perSecond.toFixed(2)}/s dispatched by Temporal over the ${priority.rate.seconds} s around the second one; at most ${priority.rate.maxIn1sDispatched} dispatched (${priority.rate.maxIn1sAccepted} accepted by the sink) in any 1 s`,
    );
    const f = priority.fairness;
    out.push(
      `  fairness: tenant-a flooded ${f.flood} emails (weight 1), then tenant-b sent ${f.late} (weight 2): of the next ${f.window} deliveries tenant-b had ${(f.shareB * 100).toFixed(0)} % (${(f.expectedShareB * 100).toFixed(0)} % by weight; 0 % first come, first served)`,
    );
  }
  if (r.phases.compare) out.push('', ...renderCompare(r.phases.compare));
  if (r.costs) out.push('', ...renderCosts(r.costs));
  if (r.notes.length) out.push('', 'Notes', ...r.notes.map((n) => `  - ${n}`));
  return out.join('\n');
}

/** Temporal Cloud's billable Actions per email, and what a million emails cost in Actions vs at an email provider. */
function renderCosts(c: CostResult): string[] {
  const usd = (v: number) => `$${v < 10 ? v.toFixed(2) : v.toFixed(0)}`;
  const kinds = (byKind: Record<string, number>) =>
    Object.entries(byKind)
      .map(([k, n]) => `${k} ${Number.isInteger(n) ? n : n.toFixed(1)}`)
      .join(', ');
  return [
    `Billable Actions per email (Temporal Cloud's definition, counted from histories: bench/actions.ts) and cost per million emails`,
    table(
      [
        'path',
        'source',
        'events',
        'Actions',
        `at $${c.prices.temporalPerMillionActions}/M`,
        `at $${c.prices.temporalPerMillionActionsAt100M}/M`,
        `storage ${c.retentionDays} d (est.)`,
        'which',
      ],
      c.paths.map((p) => [
        p.path,
        p.source,
        p.events,
        p.actions,
        usd(p.perMillionEmails),
        usd(p.perMillionEmailsAt100M),
        usd(p.retainedStoragePerMillion),
        kinds(p.byKind),
      ]),
    ),
    `  for comparison, sending the million through Amazon SES costs ${usd(c.prices.sesPerMillionEmails!)} (à la carte, $0.10 per 1,000); Temporal Cloud adds its plan (10 % of usage, at least $500/month on Business)`,
    `  $${c.prices.temporalPerMillionActions}/M = the first 5 M Actions of a month; $${c.prices.temporalPerMillionActionsAt100M}/M = the 100–200 M tier; storage = retained histories at $${c.prices.temporalRetainedPerGbHour}/GBh for ${c.retentionDays} days`,
    `  not in history, so not counted: ${c.notInHistory.join('; ')}`,
  ];
}

/** The compare phase: every run in order, then the medians and current ÷ baseline. */
function renderCompare(c: CompareResult): string[] {
  const env = (e: Record<string, string>) =>
    Object.entries(e)
      .map(([k, v]) => `${k}=${v}`)
      .join(' ') || '—';
  const cpu = (r: Record<string, number>, k: string) => n1(r[k]);
  const side = (s: CompareResult['summary']['baseline']) => [
    s.perSecond.toFixed(1),
    n1(s.cpuTotal),
    n1(s.cpuEngine),
    n1(s.cpuWorker),
    n1(s.cpuTemporal),
    s.events,
    s.actions,
  ];
  return [
    `Compare, interleaved: baseline ${c.baseline} (${c.baselineCommit.slice(0, 10)}; env ${env(c.baselineEnv)}) vs working tree ${c.currentCommit.slice(0, 10)} (env ${env(c.currentEnv)})`,
    table(
      [
        'round',
        'side',
        'emails/s',
        'CPU ms/email',
        'worker',
        'Temporal',
        'Postgres',
        'bench',
        'events',
        'Actions',
        'PG WAL rec.',
        'Temporal disk B',
        'load 1 min',
      ],
      c.runs.map((r) => [
        r.round,
        r.side,
        r.perSecond.toFixed(1),
        cpu(r.cpuPerEmailMs, 'total'),
        cpu(r.cpuPerEmailMs, 'worker'),
        cpu(r.cpuPerEmailMs, 'temporal'),
        cpu(r.cpuPerEmailMs, 'postgres'),
        cpu(r.cpuPerEmailMs, 'bench'),
        r.historyEvents,
        r.actions,
        r.persistence.postgresWalRecords,
        r.persistence.temporalDiskBytes,
        r.load1.toFixed(2),
      ]),
    ),
    table(
      ['median', 'emails/s', 'CPU ms/email', 'engine (worker + Temporal)', 'worker', 'Temporal', 'events', 'Actions'],
      [
        ['baseline', ...side(c.summary.baseline)],
        ['current', ...side(c.summary.current)],
        [
          'current ÷ baseline',
          times(c.summary.ratio.perSecond),
          times(c.summary.ratio.cpuTotal),
          times(c.summary.ratio.cpuEngine),
          '',
          '',
          '',
          '',
        ],
      ],
    ),
  ];
}
