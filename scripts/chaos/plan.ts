// What a chaos run will do, decided by the seed alone before anything starts:
// the mix of emails (and when each is submitted) and the schedule of faults.
// The same seed gives the same plan on every machine.
import type { ChaosOptions } from './options.ts';

/** mulberry32: a tiny, fast PRNG; the same seed gives the same sequence on every machine. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const between = (rand: () => number, lo: number, hi: number) => Math.round(lo + rand() * (hi - lo));

function shuffle<T>(rand: () => number, items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}

// ---------------------------------------------------------------- emails

export const FROM = 'Chaos <chaos@acme.example>';
export const BLOCKED_DOMAIN = '@blocked.example';
export const REJECT_DOMAIN = '@reject.example';

export const EMAIL_KINDS = ['normal', 'scheduled', 'blocked', 'rejected', 'cancelled'] as const;
export type EmailKind = (typeof EMAIL_KINDS)[number];

export interface PlannedEmail {
  i: number;
  kind: EmailKind;
  key: string;
  to: string;
  /** Offset from the start of submission. */
  atMs: number;
  /** `scheduled` only: send_at this long after the (first) send() call. */
  sendAfterMs?: number;
  // Filled in by the submission.
  id?: string;
  workflowStarted?: boolean;
  submitError?: string;
  cancelResult?: string;
}

/** The mix, as exact counts (at least one of each special kind), shuffled by the seed. */
export function planEmails({ emails: total, seed, durationMs }: ChaosOptions, rand: () => number): PlannedEmail[] {
  const count = (share: number) => (total >= 10 ? Math.max(1, Math.round(total * share)) : 0);
  const special: EmailKind[] = [
    ...Array<EmailKind>(count(0.03)).fill('blocked'),
    ...Array<EmailKind>(count(0.02)).fill('rejected'),
    ...Array<EmailKind>(count(0.02)).fill('cancelled'),
    ...Array<EmailKind>(count(0.05)).fill('scheduled'),
  ];
  const kinds = shuffle(rand, [
    ...special,
    ...Array<EmailKind>(Math.max(0, total - special.length)).fill('normal'),
  ]).slice(0, total);
  return kinds.map((kind, i) => {
    const domain = kind === 'blocked' ? BLOCKED_DOMAIN : kind === 'rejected' ? REJECT_DOMAIN : '@example.com';
    const email: PlannedEmail = {
      i,
      kind,
      key: `chaos-${seed}-${i}`,
      to: `user${i}${domain}`,
      atMs: Math.round((i * durationMs) / total),
    };
    if (kind === 'scheduled') email.sendAfterMs = between(rand, 2000, 10_000);
    return email;
  });
}

// ---------------------------------------------------------------- faults

export const FAULT_KINDS = [
  'worker-sigkill',
  'worker-sigterm',
  'temporal-kill',
  'postgres-kill',
  'smtp-down',
  'smtp-slow',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export interface PlannedFault {
  kind: FaultKind;
  /** Offset from the start of submission. */
  atMs: number;
  /** Workers: delay before the replacement starts; servers: how long they stay down. */
  pauseMs: number;
  /** smtp-slow: how many replies are delayed. */
  slowReplies: number;
  /** Which running worker is the victim (a fraction of the list, sorted by name). */
  pick: number;
}

/**
 * Rounds of all six kinds, each round shuffled, a few seconds apart, until the
 * duration ends (smoke: exactly one round spread over the duration). Only the
 * seed decides it; at run time a fault waits while the same server is still
 * down from the previous one.
 */
export function planFaults({ smoke, durationMs }: ChaosOptions, rand: () => number): PlannedFault[] {
  const faults: PlannedFault[] = [];
  let at = 0;
  for (;;) {
    for (const kind of shuffle(rand, [...FAULT_KINDS])) {
      at += smoke ? between(rand, (durationMs / 7) * 0.8, (durationMs / 7) * 1.2) : between(rand, 2000, 5000);
      if (!smoke && at >= durationMs) return faults;
      const pauseMs =
        kind === 'smtp-down'
          ? between(rand, 2000, 6000)
          : kind === 'temporal-kill' || kind === 'postgres-kill'
            ? between(rand, 1000, 2000)
            : between(rand, 1000, 3000);
      faults.push({ kind, atMs: at, pauseMs, slowReplies: between(rand, 3, 6), pick: rand() });
    }
    if (smoke) return faults;
  }
}

/** Both plans from the seed; the two streams are independent, so adding emails does not move the faults. */
export function planRun(options: ChaosOptions): { emails: PlannedEmail[]; faults: PlannedFault[] } {
  return {
    emails: planEmails(options, mulberry32(options.seed ^ 0x5eed_e4a1)),
    faults: planFaults(options, mulberry32(options.seed)),
  };
}
