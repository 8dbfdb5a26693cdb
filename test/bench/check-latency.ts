// check-latency: one check of a small pure wheel on a warm node (issue 4, "Speed": under 3 s,
// median of 20). Each wheel is uploaded over HTTP and timed until the file is verified; the
// scheduler's wake-up after the upload's commit starts the check, as in production.
import path from "node:path";
import { checkSteps, sshRoundTrip, startChecker, uploadAndTime, type CheckTiming } from "./checker.js";
import { fmt, log, median, percentile } from "./machine.js";
import { verdict, type ScenarioResult } from "./report.js";

const CHECKS = 20;
const TARGET_MS = 3000;
const SSH_ROUND_TRIPS = 10;

export async function checkLatencyScenario(work: string): Promise<ScenarioResult> {
  const bench = await startChecker(work, path.join(work, "storage"), 1);
  try {
    await bench.app.services.accounts.createUser("bench", null, false, "bench");
    const token = bench.app.services.accounts.createToken("bench", "bench", "bench").token;
    // First contact: the node's interpreter is probed, then the first check runs (pages cached, pip warm).
    const first = await uploadAndTime(bench, token, { project: "bench-check-warm-up", version: "1.0.0" });
    log(`check-latency: first check (with the probe) ${fmt(first.totalMs, 0)} ms`);
    const timings: CheckTiming[] = [];
    for (let index = 0; index < CHECKS; index++) {
      timings.push(await uploadAndTime(bench, token, { project: "bench-check", version: `1.0.${index}` }));
      log(`check-latency: ${timings.at(-1)!.filename} verified after ${fmt(timings.at(-1)!.totalMs, 0)} ms`);
    }
    const noOp = await sshRoundTrip(bench.connection, ["true"], SSH_ROUND_TRIPS);
    const pythonNoOp = await sshRoundTrip(bench.connection, [bench.python, "-c", "pass"], SSH_ROUND_TRIPS);
    const pipStart = await sshRoundTrip(bench.connection, [bench.python, "-m", "pip", "--version"], 5);
    return report(first, timings, { noOp, pythonNoOp, pipStart }, bench.python);
  } finally {
    await bench.stop();
  }
}

function report(first: CheckTiming, timings: CheckTiming[], ssh: { noOp: number; pythonNoOp: number; pipStart: number }, python: string): ScenarioResult {
  const total = timings.map((timing) => timing.totalMs);
  const of = (pick: (timing: CheckTiming) => number) => fmt(median(timings.map(pick)), 0);
  const medianCheck = [...timings].sort((a, b) => a.totalMs - b.totalMs)[Math.ceil(timings.length / 2) - 1];
  const steps = checkSteps(medianCheck.check.log);
  const inCommands = steps.reduce((sum, step) => sum + step.seconds, 0);
  const stepTable = [
    `${fmt((medianCheck.runMs - medianCheck.scriptMs) / 1000, 2)} s  SSH connection, authentication, the bootstrap interpreter's start (outside check.py's own clock)`,
    ...steps.map((step) => `${fmt(step.seconds, 2)} s  $ ${step.command.length > 100 ? `${step.command.slice(0, 97)}...` : step.command}`),
    `${fmt(medianCheck.scriptMs / 1000 - inCommands, 2)} s  check.py between those commands: download, reading the wheel, unpacking the bundled setuptools into the environment`,
  ];
  return {
    notes: [
      `The node: Debian's OpenSSH server on 127.0.0.1 (test/support/sshd.ts), interpreter ${python}, parallel 1; the app runs in the bench process (\`startApp\`) and reaches it with ssh2; the node fetches the wheel and the staging index from the app over loopback.`,
      `Each wheel (bench/wheels.ts: one module, METADATA, WHEEL, RECORD) is a new version uploaded with POST /legacy/; time = the upload's answer → the file's verification is "verified" (polled every 10 ms). A first check, with the node's probe, runs before the ${CHECKS} measured.`,
      "Every check opens its own SSH connection (src/remote/ssh.ts: a new ssh2 Client per runRemote, closed after the command): nothing is reused between checks, neither the connection nor an environment on the node.",
      "A negative \"check started\" figure means the check started before the uploader had its answer: the scheduler is woken right after ingest's commit.",
      `Where the time of the median check (${medianCheck.filename}, ${fmt(medianCheck.totalMs, 0)} ms from the upload's answer) went, per the check's row and check.py's log:\n\n  \`\`\`\n${stepTable.map((line) => `  ${line}`).join("\n")}\n  \`\`\``,
    ],
    rows: [
      { scenario: "first check, first contact with the node (probe of its interpreter + the check)", result: `${fmt(first.totalMs, 0)} ms`, target: "—" },
      {
        scenario: `upload answer → verified, small pure wheel, warm node (${timings.length} checks)`,
        result: `median ${fmt(median(total), 0)} ms, p90 ${fmt(percentile(total, 0.9), 0)} ms, max ${fmt(Math.max(...total), 0)} ms`,
        target: verdict("< 3 s (median)", median(total) < TARGET_MS),
      },
      { scenario: "… upload answer → check started (scheduler wake-up)", result: `median ${of((timing) => timing.waitMs)} ms`, target: "—" },
      { scenario: "… check started → verdict recorded (SSH + check.py)", result: `median ${of((timing) => timing.runMs)} ms`, target: "—" },
      { scenario: "… of which check.py itself, on the node", result: `median ${of((timing) => timing.scriptMs)} ms`, target: "—" },
      { scenario: `SSH round trip, \`true\` (connect + auth + exec + close; median of ${SSH_ROUND_TRIPS})`, result: `${fmt(ssh.noOp, 0)} ms`, target: "—" },
      { scenario: `SSH round trip, \`python3.11 -c pass\` (median of ${SSH_ROUND_TRIPS})`, result: `${fmt(ssh.pythonNoOp, 0)} ms`, target: "—" },
      { scenario: "SSH round trip, `python3.11 -m pip --version` (pip's own start; median of 5)", result: `${fmt(ssh.pipStart, 0)} ms`, target: "—" },
    ],
  };
}
