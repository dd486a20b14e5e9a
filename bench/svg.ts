// A hand-written SVG of one bench run: throughput against its two limits,
// latency percentiles per load level, and deliveries per second over time for
// the saturation, rate-limit and backlog phases. No dependencies.
import type { BenchResults } from './results.ts';

const WIDTH = 960;
const PANEL_HEIGHT = 250;
const MARGIN = { left: 95, right: 150, top: 40, bottom: 40 };
const COLORS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b'];

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const fmt = (v: number) => (Number.isInteger(v) || v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2));

/** A "nice" upper bound for an axis: 1, 2 or 5 × 10^k above `max`. */
function niceMax(max: number): number {
  if (!(max > 0)) return 1;
  const exp = 10 ** Math.floor(Math.log10(max));
  for (const m of [1, 2, 5, 10]) if (m * exp >= max) return m * exp;
  return 10 * exp;
}

class Panel {
  readonly parts: string[] = [];
  readonly x0 = MARGIN.left;
  readonly x1 = WIDTH - MARGIN.right;
  readonly y0: number;
  readonly y1: number;

  constructor(
    readonly top: number,
    title: string,
    subtitle?: string,
  ) {
    this.y0 = top + MARGIN.top;
    this.y1 = top + PANEL_HEIGHT - MARGIN.bottom;
    this.parts.push(`<text x="${MARGIN.left}" y="${top + 20}" class="title">${esc(title)}</text>`);
    if (subtitle) this.parts.push(`<text x="${MARGIN.left}" y="${top + 34}" class="sub">${esc(subtitle)}</text>`);
  }

  /** A vertical value axis with gridlines, 0..max. */
  yAxis(max: number, unit: string): (v: number) => number {
    const y = (v: number) => this.y1 - (v / max) * (this.y1 - this.y0);
    for (let i = 0; i <= 4; i++) {
      const v = (max * i) / 4;
      this.parts.push(`<line x1="${this.x0}" x2="${this.x1}" y1="${y(v)}" y2="${y(v)}" class="grid"/>`);
      this.parts.push(`<text x="${this.x0 - 6}" y="${y(v) + 4}" class="tick" text-anchor="end">${fmt(v)}</text>`);
    }
    this.parts.push(
      `<text x="14" y="${(this.y0 + this.y1) / 2}" class="tick" transform="rotate(-90 14 ${(this.y0 + this.y1) / 2})" text-anchor="middle">${esc(unit)}</text>`,
    );
    return y;
  }

  legend(entries: { label: string; color: string; dashed?: boolean }[]): void {
    entries.forEach((e, i) => {
      const y = this.y0 + 10 + i * 18;
      const dash = e.dashed ? ' stroke-dasharray="6 4"' : '';
      this.parts.push(
        `<line x1="${this.x1 + 12}" x2="${this.x1 + 34}" y1="${y}" y2="${y}" stroke="${e.color}" stroke-width="3"${dash}/>`,
      );
      this.parts.push(`<text x="${this.x1 + 40}" y="${y + 4}" class="tick">${esc(e.label)}</text>`);
    });
  }
}

function throughputPanel(top: number, r: BenchResults): Panel | undefined {
  const { smtp, engine, pipeline } = r.phases;
  const items = [
    smtp && { label: 'SMTP limit', value: smtp.perSecond, note: 'msg/s' },
    r.phases['engine-minimal'] && {
      label: 'Minimal workflow',
      value: r.phases['engine-minimal'].perSecond,
      note: 'workflows/s (1 no-op activity)',
    },
    engine && { label: 'Engine floor', value: engine.perSecond, note: 'workflows/s' },
    r.phases['engine-regular'] && {
      label: 'Floor, old shape',
      value: r.phases['engine-regular'].perSecond,
      note: 'workflows/s (3 regular activities)',
    },
    pipeline && { label: 'Pipeline', value: pipeline.perSecond, note: 'emails/s' },
    pipeline && { label: 'send() alone', value: pipeline.submitPerSecond, note: 'sends/s' },
  ].filter((i): i is { label: string; value: number; note: string } => Boolean(i));
  if (!items.length) return undefined;
  const p = new Panel(
    top,
    'Throughput at saturation',
    'per second; the pipeline is bounded by the lower of its two limits',
  );
  const max = niceMax(Math.max(...items.map((i) => i.value)));
  const x = (v: number) => p.x0 + (v / max) * (p.x1 - p.x0);
  for (let i = 0; i <= 4; i++) {
    const v = (max * i) / 4;
    p.parts.push(`<line x1="${x(v)}" x2="${x(v)}" y1="${p.y0}" y2="${p.y1}" class="grid"/>`);
    p.parts.push(`<text x="${x(v)}" y="${p.y1 + 16}" class="tick" text-anchor="middle">${fmt(v)}</text>`);
  }
  const band = (p.y1 - p.y0) / items.length;
  items.forEach((item, i) => {
    const y = p.y0 + i * band + band * 0.2;
    const h = band * 0.6;
    p.parts.push(`<text x="${p.x0 - 6}" y="${y + h / 2 + 4}" class="tick" text-anchor="end">${esc(item.label)}</text>`);
    p.parts.push(
      `<rect x="${p.x0}" y="${y}" width="${Math.max(1, x(item.value) - p.x0)}" height="${h}" fill="${COLORS[i % COLORS.length]}"/>`,
    );
    p.parts.push(
      `<text x="${x(item.value) + 6}" y="${y + h / 2 + 4}" class="value">${fmt(item.value)} ${esc(item.note)}</text>`,
    );
  });
  return p;
}

function latencyPanel(top: number, r: BenchResults): Panel | undefined {
  const levels = r.phases.latency?.levels ?? [];
  if (!levels.length) return undefined;
  const p = new Panel(
    top,
    'Latency: send() returned → SMTP sink accepted',
    `open-loop arrivals at a fixed rate; saturation = ${fmt(r.phases.latency!.saturationRate)} emails/s`,
  );
  const keys = ['p50', 'p95', 'p99'] as const;
  const max = niceMax(Math.max(...levels.flatMap((l) => keys.map((k) => l.latencyMs[k]))));
  const y = p.yAxis(max, 'ms');
  const group = (p.x1 - p.x0) / levels.length;
  levels.forEach((level, i) => {
    const gx = p.x0 + i * group;
    const w = (group * 0.7) / keys.length;
    keys.forEach((k, j) => {
      const v = level.latencyMs[k];
      const bx = gx + group * 0.15 + j * w;
      p.parts.push(`<rect x="${bx}" y="${y(v)}" width="${w - 2}" height="${p.y1 - y(v)}" fill="${COLORS[j]}"/>`);
      p.parts.push(`<text x="${bx + w / 2}" y="${y(v) - 3}" class="small" text-anchor="middle">${fmt(v)}</text>`);
    });
    p.parts.push(
      `<text x="${gx + group / 2}" y="${p.y1 + 16}" class="tick" text-anchor="middle">${level.loadPercent} % (${fmt(level.achievedRate)}/s)</text>`,
    );
  });
  p.legend(keys.map((k, j) => ({ label: k, color: COLORS[j]! })));
  return p;
}

function seriesPanel(
  top: number,
  title: string,
  subtitle: string,
  series: { label: string; values: number[] }[],
  limit?: number,
): Panel | undefined {
  if (!series.some((s) => s.values.length)) return undefined;
  const p = new Panel(top, title, subtitle);
  const length = Math.max(...series.map((s) => s.values.length));
  const max = niceMax(Math.max(limit ?? 0, ...series.flatMap((s) => s.values)) * 1.1);
  const y = p.yAxis(max, 'per second');
  const x = (i: number) => p.x0 + (length <= 1 ? 0 : (i / (length - 1)) * (p.x1 - p.x0));
  const step = Math.max(1, Math.ceil(length / 10));
  for (let i = 0; i < length; i += step) {
    p.parts.push(`<text x="${x(i)}" y="${p.y1 + 16}" class="tick" text-anchor="middle">${i}s</text>`);
  }
  series.forEach((s, i) => {
    const points = s.values.map((v, j) => `${x(j).toFixed(1)},${y(v).toFixed(1)}`).join(' ');
    p.parts.push(`<polyline points="${points}" fill="none" stroke="${COLORS[i % COLORS.length]}" stroke-width="2"/>`);
  });
  const legend = series.map((s, i) => ({ label: s.label, color: COLORS[i % COLORS.length]! }));
  if (limit !== undefined) {
    p.parts.push(
      `<line x1="${p.x0}" x2="${p.x1}" y1="${y(limit)}" y2="${y(limit)}" stroke="#000" stroke-width="1.5" stroke-dasharray="6 4"/>`,
    );
    legend.push({ label: `limit ${fmt(limit)}/s`, color: '#000', dashed: true } as {
      label: string;
      color: string;
      dashed: boolean;
    });
  }
  p.legend(legend);
  return p;
}

export function renderChart(r: BenchResults): string {
  const panels: Panel[] = [];
  let top = 50;
  const add = (make: (top: number) => Panel | undefined) => {
    const panel = make(top);
    if (panel) {
      panels.push(panel);
      top += PANEL_HEIGHT;
    }
  };
  add((t) => throughputPanel(t, r));
  add((t) => latencyPanel(t, r));
  const pipeline = r.phases.pipeline;
  if (pipeline) {
    add((t) =>
      seriesPanel(
        t,
        'Saturation: messages accepted by the sink per second',
        `${pipeline.emails} emails, ${pipeline.submitConcurrency} send() calls in flight`,
        [{ label: 'pipeline', values: pipeline.receivedPerSecond }],
      ),
    );
  }
  const rl = r.phases.ratelimit;
  if (rl) {
    add((t) =>
      seriesPanel(
        t,
        `Global rate limit ${fmt(rl.limitPerSecond)}/s: deliveries per second`,
        'seconds since the first delivery; one line per number of worker processes',
        rl.runs.map((run) => ({ label: `${run.workers} worker${run.workers > 1 ? 's' : ''}`, values: run.perSecond })),
        rl.limitPerSecond,
      ),
    );
  }
  const bl = r.phases.backlog;
  if (bl) {
    add((t) =>
      seriesPanel(
        t,
        `Backlog drain: ${bl.emails} emails after an SMTP outage`,
        `seconds since the sink came back; drained in ${fmt(bl.drainSeconds)} s (ideal ${fmt(bl.idealDrainSeconds)} s)`,
        [{ label: 'deliveries', values: bl.perSecond }],
        bl.limitPerSecond,
      ),
    );
  }
  const height = top + 20;
  const env = r.environment as { cpuModel?: string; cores?: number };
  const header = `mailer bench — ${r.startedAt} — ${env.cores ?? '?'} cores, ${env.cpuModel ?? 'unknown CPU'}${r.options.smoke ? ' — SMOKE (tiny sizes)' : ''}`;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="sans-serif">`,
    '<style>.title{font-size:15px;font-weight:bold}.sub{font-size:11px;fill:#555}.tick{font-size:11px;fill:#333}.small{font-size:9px;fill:#333}.value{font-size:11px;font-weight:bold}.grid{stroke:#ddd;stroke-width:1}</style>',
    `<rect width="${WIDTH}" height="${height}" fill="#fff"/>`,
    `<text x="${MARGIN.left}" y="28" class="title" font-size="17">${esc(header)}</text>`,
    ...panels.flatMap((p) => p.parts),
    '</svg>',
    '',
  ].join('\n');
}
