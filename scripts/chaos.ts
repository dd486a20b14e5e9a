// `npm run chaos`: the fault tests' randomised, larger sibling. On a private
// stack (real Temporal dev server, real Postgres with fsync on, the in-process
// SMTP sink) with workers as real child processes, it submits N emails over a
// duration while a seeded schedule of faults hits every part: workers SIGKILLed
// and SIGTERMed, the Temporal server and Postgres SIGKILLed and relaunched, the
// SMTP sink down or slow. Then it restores everything, waits for every email to
// reach a final status, and checks the promise: nothing lost, nothing sent
// twice outside the uncertain window, nothing recorded `sent` that the sink
// never received, and every email ends the way its kind says it should.
//
//   npm run chaos -- --emails 2000 --duration 120s [--seed 42] [--workers 2] [--settle 10m] [--out file.json]
//   npm run chaos -- --smoke          # 40 emails over 15 s, one fault of each kind (what test/chaos.test.ts runs)
//
// Exit code: 0 when the scoreboard is clean, 1 when it is not (and a
// diagnostics folder with the bad emails' records, workflow histories and every
// log is kept), 2 for bad arguments, 130 when interrupted.
//
// The parts, one concern each, are in scripts/chaos/: options (the command
// line), plan (the seeded emails and faults), workers (the fleet), faults,
// load (submission and settling), scoreboard (the verdict), table, diagnose,
// and run (main, which returns the exit code).
import { main } from './chaos/run.ts';

// Exit explicitly: a client or a worker's pipe still open must not keep a finished run alive.
process.exit(await main(process.argv.slice(2)));
