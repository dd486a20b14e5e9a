// The scoreboard as the table a person reads at the end of a run.
import { FAULT_KINDS } from './plan.ts';
import type { Scoreboard } from './scoreboard.ts';

export function printTable(r: Scoreboard): void {
  const rowsOut: [string, string | number][] = [
    ['seed', r.seed],
    ['emails / duration / workers', `${r.options.emails} / ${r.options.durationS} s / ${r.options.workers}`],
    ['submitted', r.submitted],
    ['  sent', r.sent],
    ['  blocked', r.blocked],
    ['  failed', r.failed],
    ['  cancelled', r.cancelled],
    ['  lost', r.lost],
    ['duplicates', r.duplicates],
    ['  in the uncertain window', r.duplicatesInUncertainWindow],
    ['  outside it', r.duplicatesOutsideWindow],
    ['missing (sent, never received)', r.missing],
    ['expected-outcome mismatches', r.mismatches],
    ['possibly_delivered records', r.possiblyDelivered],
    ['cancel races won by the send', r.cancelRaceWonBySend],
    ['send() retries (threw)', r.sendRetries],
    ['workflow starts left to reconcile', r.workflowStartDeferred],
    ['delivery attempts', r.deliveryAttempts],
    ['messages at the sink', r.sinkMessages],
    ...FAULT_KINDS.map((k): [string, string | number] => [
      `fault ${k}`,
      r.faultsSkipped[k] ? `${r.faults[k]} (${r.faultsSkipped[k]} skipped: no worker running)` : r.faults[k],
    ]),
    ['workers that died on their own', r.unexpectedWorkerExits.length],
    ['worker starts that failed', r.workerSpawnFailures],
    ...Object.entries(r.workerSpawnFailureReasons).map(([reason, n]): [string, string] => [
      `  ${n} ×`,
      reason.slice(0, 90),
    ]),
    ['submission', `${r.elapsedS.submission.toFixed(1)} s`],
    ['restore', `${r.elapsedS.restore.toFixed(1)} s`],
    ['settle (after restore)', `${r.elapsedS.settle.toFixed(1)} s`],
    [
      'last email final',
      r.elapsedS.lastFinalAfterStart === null
        ? '-'
        : `${r.elapsedS.lastFinalAfterStart.toFixed(1)} s after the first submission`,
    ],
    ['total (with stack start/stop)', `${r.elapsedS.total.toFixed(1)} s`],
    ['machine', `${r.machine.nproc} cores, ${r.machine.cpuModel}, ${r.machine.memoryGiB} GiB`],
    ['result', r.pass ? 'PASS' : `FAIL: ${r.failures.join('; ')}`],
  ];
  const width = Math.max(...rowsOut.map(([k]) => k.length));
  console.log(`\nChaos run scoreboard\n${'-'.repeat(width + 24)}`);
  for (const [k, v] of rowsOut) console.log(`${k.padEnd(width)}  ${String(v)}`);
  console.log('-'.repeat(width + 24));
}
