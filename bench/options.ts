// The bench's command line: parsed once, at import, into `options`; bad
// values stop the run with the usage text (exit 2) before anything starts.
import path from 'node:path';
import { parseArgs } from 'node:util';
import { projectRoot } from '../dev/stack/index.ts';
import { DEFAULT_PHASES, type Phase, PHASES } from './results.ts';

export const USAGE = `usage: npm run bench -- [options]
  --emails N            engine-floor and saturation phase size (default 300; smoke 40)
  --rate-seconds S      seconds per rate-limit run (default 60; smoke 5)
  --rate-workers LIST   worker processes per rate-limit run (default 1,2,3; smoke 1)
  --rate-limit R        EMAIL_RATE_LIMIT per second for that phase (default 5)
  --backlog N           emails in the backlog phase (default 200; smoke 40)
  --drain-rate R        EMAIL_RATE_LIMIT per second while draining the backlog (default 50)
  --priority-backlog N  normal emails a high-priority one is submitted behind (default 2000; smoke 40)
  --latency-seconds S   seconds of open-loop arrivals per load level (default 20; smoke 2)
  --concurrency C       send() calls in flight at saturation (default 64)
  --saturation-rate R   emails/s to base the latency levels on when the pipeline phase is not run
  --phases a,b,c        any of ${PHASES.join(',')}
                        (default: all but engine-regular, the workflow shape before the fast path)
  --baseline REV        with phase compare: the git revision to measure against the working tree
  --rounds N            compare: rounds, each running both sides in alternating order (default 3; smoke 1)
  --baseline-env K=V,…  compare: extra worker environment for the baseline side
  --current-env K=V,…   compare: extra worker environment for the working tree's side
  --out DIR             where results go (default bench-results/)
  --smoke               tiny sizes: the whole run in well under a minute`;

const { values: args } = parseArgs({
  options: {
    emails: { type: 'string' },
    'rate-seconds': { type: 'string' },
    'rate-workers': { type: 'string' },
    'rate-limit': { type: 'string' },
    backlog: { type: 'string' },
    'drain-rate': { type: 'string' },
    'priority-backlog': { type: 'string' },
    'latency-seconds': { type: 'string' },
    concurrency: { type: 'string' },
    'saturation-rate': { type: 'string' },
    phases: { type: 'string' },
    out: { type: 'string' },
    baseline: { type: 'string' },
    rounds: { type: 'string' },
    'baseline-env': { type: 'string' },
    'current-env': { type: 'string' },
    smoke: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
  strict: true,
});
if (args.help) {
  console.log(USAGE);
  process.exit(0);
}

function positive(name: string, raw: string | undefined, fallback: number, integer = true): number {
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0 || (integer && !Number.isInteger(value))) {
    console.error(`--${name}: "${raw}" is not a positive ${integer ? 'whole ' : ''}number\n\n${USAGE}`);
    process.exit(2);
  }
  return value;
}

function envList(name: string, raw: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of (raw ?? '').split(',').filter(Boolean)) {
    const eq = pair.indexOf('=');
    if (eq <= 0) {
      console.error(`--${name}: "${pair}" is not NAME=value\n\n${USAGE}`);
      process.exit(2);
    }
    out[pair.slice(0, eq).trim()] = pair.slice(eq + 1).trim();
  }
  return out;
}

const smoke = args.smoke === true;
export const options = {
  smoke,
  emails: positive('emails', args.emails, smoke ? 40 : 300),
  smtpMessages: smoke ? 100 : 2000,
  rateSeconds: positive('rate-seconds', args['rate-seconds'], smoke ? 5 : 60, false),
  rateWorkers: (args['rate-workers'] ?? (smoke ? '1' : '1,2,3'))
    .split(',')
    .map((w) => positive('rate-workers', w.trim(), 1)),
  rateLimit: positive('rate-limit', args['rate-limit'], 5, false),
  backlog: positive('backlog', args.backlog, smoke ? 40 : 200),
  drainRate: positive('drain-rate', args['drain-rate'], 50, false),
  priorityBacklog: positive('priority-backlog', args['priority-backlog'], smoke ? 40 : 2000),
  latencySeconds: positive('latency-seconds', args['latency-seconds'], smoke ? 2 : 20, false),
  latencyLoads: [25, 50, 75],
  concurrency: positive('concurrency', args.concurrency, 64),
  smtpInFlight: 32,
  saturationRate:
    args['saturation-rate'] === undefined ? undefined : positive('saturation-rate', args['saturation-rate'], 1, false),
  phases: (args.phases ?? DEFAULT_PHASES.join(','))
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean) as Phase[],
  out: path.resolve(args.out ?? path.join(projectRoot, 'bench-results')),
  historySamples: 5,
  baseline: args.baseline,
  rounds: positive('rounds', args.rounds, smoke ? 1 : 3),
  baselineEnv: envList('baseline-env', args['baseline-env']),
  currentEnv: envList('current-env', args['current-env']),
  drainRetryMaxInterval: '5s',
  /** How long the outage lasts at most after the backlog is submitted (until every email has failed once). */
  outageWaitSeconds: smoke ? 3 : 10,
};
for (const phase of options.phases) {
  if (!PHASES.includes(phase)) {
    console.error(`--phases: unknown phase "${phase}" (known: ${PHASES.join(', ')})`);
    process.exit(2);
  }
}
if (
  options.phases.includes('latency') &&
  !options.phases.includes('pipeline') &&
  options.saturationRate === undefined
) {
  console.error('--phases: latency needs the saturation rate: run it with pipeline, or give --saturation-rate');
  process.exit(2);
}
if (options.phases.includes('compare') && !options.baseline) {
  console.error(
    '--phases: compare needs --baseline REV (a git revision; HEAD compares the working tree with the last commit)',
  );
  process.exit(2);
}
export type BenchOptions = typeof options;

/** Whether `phase` is part of this run. */
export const runs = (phase: Phase) => options.phases.includes(phase);
