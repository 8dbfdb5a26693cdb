// What the checker scenarios share: a real OpenSSH server on loopback as the clean node
// (test/support/sshd.ts, Python 3.11 as its one interpreter), and the app in this process with
// that node configured. In-process is fair here: the work of a check happens in other processes
// (sshd, the interpreters on the node), the app only schedules it and records the verdict.
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { startApp, type App, type Services } from "../../src/app.js";
import type { Principal } from "../../src/services/access.js";
import { runRemote, type NodeConnection } from "../../src/remote/ssh.js";
import { loadSettings } from "../../src/settings.js";
import type { CheckRow } from "../../src/store/checks.js";
import { uploadFile } from "../support/farm-api.js";
import { sharedPython } from "../support/unprivileged.js";
import { startSshd, type SshdNode } from "../support/sshd.js";
import { median } from "./machine.js";
import { wheelBytes, wheelFilename, type WheelSpec } from "./wheels.js";

/** The benchmark reads verdicts as the operator would. */
const BENCH: Principal = { kind: "system", name: "bench" };

export const NODE = "bench-node";

export interface CheckerBench {
  app: App;
  node: SshdNode;
  connection: NodeConnection;
  python: string;
  /** performance.now() just before the app (and so its scheduler) started. */
  startedAt: number;
  /** What the app logged (scheduler errors land here). */
  log: string[];
  stop(): Promise<void>;
}

/** sshd, then the app on `storage` (already populated, or empty) with the node allowing `parallel` checks. */
export async function startChecker(work: string, storage: string, parallel: number): Promise<CheckerBench> {
  mkdirSync(work, { recursive: true });
  const node = await startSshd();
  const keyFile = path.join(work, "node_ed25519");
  writeFileSync(keyFile, node.privateKey, { mode: 0o600 });
  const python = sharedPython("3.11");
  const { settings } = loadSettings({
    env: {},
    configPath: "/dev/null",
    overrides: {
      server: { host: "127.0.0.1", port: 0 },
      storage: { path: storage },
      checker: { check_timeout_seconds: 120, retry_seconds: 5 },
      nodes: [{ name: NODE, host: node.host, port: node.port, user: node.username, private_key_file: keyFile, host_key: node.hostKeySha256, interpreters: [python], parallel, allow_root_login: false, exclusive_login: false }],
    },
  });
  const log: string[] = [];
  const startedAt = performance.now();
  const app = await startApp(settings, (message) => log.push(message));
  const connection = { host: node.host, port: node.port, username: node.username, privateKey: node.privateKey, hostKeySha256: node.hostKeySha256 };
  return {
    app,
    node,
    connection,
    python,
    startedAt,
    log,
    // The node first: the checks still running end with it (and wait as pending), then the app.
    async stop() {
      await node.dispose();
      await app.stop();
    },
  };
}

export interface CheckTiming {
  filename: string;
  /** The upload's answer → the file's verification is no longer pending (seen within 10 ms). */
  totalMs: number;
  /** The upload's answer → the check started (ms clocks: wall time of the server). */
  waitMs: number;
  /** Check started → verdict recorded: SSH connection, command and check.py. */
  runMs: number;
  /** What check.py measured itself, on the node. */
  scriptMs: number;
  check: CheckRow;
}

/** Upload one small pure wheel over HTTP as `token`'s user, and time it until it is verified. */
export async function uploadAndTime(bench: CheckerBench, token: string, spec: WheelSpec): Promise<CheckTiming> {
  const filename = wheelFilename(spec);
  const reply = await uploadFile(bench.app.url, token, { filename, bytes: await wheelBytes(spec), name: spec.project, version: spec.version });
  const answered = performance.now();
  const answeredWall = Date.now();
  if (reply.status !== 200) throw new Error(`upload of ${filename}: ${reply.status} ${reply.statusText}`);
  const verifiedAt = await waitForVerdict(bench.app.services, filename, 180_000, bench.log);
  const check = bench.app.services.checks.checksOf(BENCH, filename).checks[0];
  const started = Date.parse(check.startedAt!);
  return {
    filename,
    totalMs: verifiedAt - answered,
    waitMs: started - answeredWall,
    runMs: Date.parse(check.finishedAt!) - started,
    scriptMs: check.durationMs ?? NaN,
    check,
  };
}

/** performance.now() once `filename` is verified; throws with the check's log if it failed, or on timeout. */
export async function waitForVerdict(services: Services, filename: string, timeoutMs: number, appLog: string[]): Promise<number> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const file = services.stores.files.byFilename(filename);
    if (file?.verification === "verified") return performance.now();
    if (file?.verification === "failed" || performance.now() > deadline) {
      const check = file ? services.checks.checksOf(BENCH, filename).checks[0] : undefined;
      throw new Error(`${filename}: ${file?.verification ?? "missing"} after ${timeoutMs / 1000} s at most: ${check?.reason}\n${check?.log}\n${appLog.join("\n")}`);
    }
    await sleep(10);
  }
}

/** Median time of `count` SSH round trips running `command` (connect, authenticate, exec, close). */
export async function sshRoundTrip(connection: NodeConnection, command: string[], count: number): Promise<number> {
  const times: number[] = [];
  for (let index = 0; index < count; index++) {
    const started = performance.now();
    const result = await runRemote(connection, command, "", { timeoutMs: 30_000 });
    if (result.code !== 0) throw new Error(`${command.join(" ")} over SSH: exit ${result.code}\n${result.stderr}`);
    times.push(performance.now() - started);
  }
  return median(times);
}

/**
 * The commands check.py ran and how long each took, from its log: "$ argv" lines, each followed
 * (after its output) by "[exit status 0 in 0.53 s]".
 */
export function checkSteps(log: string): { command: string; seconds: number }[] {
  const steps: { command: string; seconds: number }[] = [];
  let command: string | undefined;
  for (const line of log.split("\n")) {
    if (line.startsWith("$ ")) command = line.slice(2);
    const timing = /^\[(?:exit status -?\d+|killed by \w+) in ([\d.]+) s/.exec(line);
    if (timing && command !== undefined) {
      steps.push({ command, seconds: Number(timing[1]) });
      command = undefined;
    }
  }
  return steps;
}
