// The chaos run's command line, parsed into plain options. Nothing here exits
// or prints: a bad value is a UsageError naming the option, and main() turns
// it into the usage text and exit code 2.
import { parseArgs } from 'node:util';
import path from 'node:path';
import { ConfigError, parseDuration } from '../../src/config.ts';

export const USAGE = `usage: npm run chaos -- [options]
  --emails N        emails to submit (default 200; smoke 40)
  --duration D      submit them evenly over D, injecting faults meanwhile (default 60s; smoke 15s)
  --seed S          seed of the email mix and the fault schedule (default: random, printed)
  --workers W       worker processes (default 2)
  --settle D        deadline for every email to become final after the faults (default 10m; smoke 3m)
  --out FILE        also write the scoreboard as JSON
  --keep-logs       keep the worker logs (always kept when the run fails)
  --smoke           small run with exactly one fault of each kind`;

export interface ChaosOptions {
  emails: number;
  durationMs: number;
  seed: number;
  workers: number;
  settleMs: number;
  /** Absolute path of the scoreboard's JSON copy, when asked for. */
  out: string | undefined;
  keepLogs: boolean;
  smoke: boolean;
}

export class UsageError extends Error {
  override name = 'UsageError';
}

function positiveInt(value: string | undefined, name: string, fallback: number, min = 1): number {
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value) || Number(value) < min)
    throw new UsageError(`--${name}: "${value}" is not a whole number ≥ ${min}`);
  return Number(value);
}

/** A bare number is seconds; otherwise the service's own duration syntax (`90s`, `2m`). */
function durationArg(value: string | undefined, name: string, fallback: string): number {
  const raw = value ?? fallback;
  try {
    return /^\d+$/.test(raw) ? Number(raw) * 1000 : parseDuration(raw, `--${name}`);
  } catch (err) {
    throw new UsageError(err instanceof ConfigError ? err.message : String(err));
  }
}

/** `help` when -h/--help was given (nothing else is checked then), the options otherwise. */
export function parseOptions(
  argv: string[],
  randomSeed = () => Math.floor(Math.random() * 2 ** 31),
): { help: true } | { help: false; options: ChaosOptions } {
  let args;
  try {
    args = parseArgs({
      args: argv,
      options: {
        emails: { type: 'string' },
        duration: { type: 'string' },
        seed: { type: 'string' },
        workers: { type: 'string' },
        settle: { type: 'string' },
        out: { type: 'string' },
        'keep-logs': { type: 'boolean', default: false },
        smoke: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
    }).values;
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (args.help) return { help: true };

  const smoke = args.smoke === true;
  const options: ChaosOptions = {
    emails: positiveInt(args.emails, 'emails', smoke ? 40 : 200),
    durationMs: durationArg(args.duration, 'duration', smoke ? '15s' : '60s'),
    seed: positiveInt(args.seed, 'seed', randomSeed(), 0) >>> 0,
    workers: positiveInt(args.workers, 'workers', 2),
    settleMs: durationArg(args.settle, 'settle', smoke ? '3m' : '10m'),
    out: args.out ? path.resolve(args.out) : undefined,
    keepLogs: args['keep-logs'] === true,
    smoke,
  };
  if (options.durationMs < 1000) throw new UsageError('--duration: at least 1s');
  return { help: false, options };
}
