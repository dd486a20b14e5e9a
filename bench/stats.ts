// Small, dependency-free statistics for the bench.

/** Nearest-rank percentile of an ascending array (p in 0..100). */
export function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return Number.NaN;
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(rank, sorted.length) - 1]!;
}

export interface Distribution {
  n: number;
  min: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  mean: number;
}

export function distribution(values: number[]): Distribution {
  const sorted = [...values].sort((a, b) => a - b);
  const sum = sorted.reduce((s, v) => s + v, 0);
  return {
    n: sorted.length,
    min: sorted[0] ?? Number.NaN,
    p50: percentile(sorted, 50),
    p95: percentile(sorted, 95),
    p99: percentile(sorted, 99),
    max: sorted.at(-1) ?? Number.NaN,
    mean: sorted.length ? sum / sorted.length : Number.NaN,
  };
}

/** The largest number of timestamps (ms) inside any window [t, t + windowMs). */
export function maxInWindow(timestamps: number[], windowMs = 1000): { count: number; startsAt: number | undefined } {
  const ts = [...timestamps].sort((a, b) => a - b);
  let best = 0;
  let startsAt: number | undefined;
  let lo = 0;
  for (let hi = 0; hi < ts.length; hi++) {
    while (ts[hi]! - ts[lo]! >= windowMs) lo++;
    if (hi - lo + 1 > best) {
      best = hi - lo + 1;
      startsAt = ts[lo];
    }
  }
  return { count: best, startsAt };
}

/** Counts per whole second since `t0` (ms), for `seconds` seconds. */
export function perSecond(timestamps: number[], t0: number, seconds: number): number[] {
  const bins = new Array<number>(Math.max(0, Math.ceil(seconds))).fill(0);
  for (const t of timestamps) {
    const i = Math.floor((t - t0) / 1000);
    if (i >= 0 && i < bins.length) bins[i]!++;
  }
  return bins;
}

export const round = (value: number, digits = 1): number =>
  Number.isFinite(value) ? Number(value.toFixed(digits)) : value;
