// A check cannot change the node for the next one. The node here is misconfigured on purpose:
// its login is root (allowed explicitly, and warned about), and its interpreter a private copy
// that root can write, so a hostile wheel CAN plant a sitecustomize.py in the standard library.
// The checker must notice: the node is quarantined with the changed file named, the wheel that
// did it fails, no other file is verified on the changed interpreter, and after the node is
// cleaned and probed again the gate works again. Without the opt-in, the root login is refused.
import { rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import {
  addFile,
  buildFixture,
  eventually,
  fileChecks,
  listed,
  nodeHealth,
  nodeSettings,
  runCli,
  startCheckerServer,
  waitForCheck,
  waitForVerdict,
  writablePython,
  type CheckerServer,
  type NodeSettings,
} from "../support/checker.js";
import { expectOk } from "../support/commands.js";
import { buildWheel } from "../support/packages.js";
import { startSshd, type SshdNode } from "../support/sshd.js";

let node: SshdNode;
let python: string;
/** The sitecustomize.py the hostile wheels plant, and what the fingerprint says about it. */
let planted: string;
let plantedChanges: string;
let config: NodeSettings;
let server: CheckerServer;
const servers: CheckerServer[] = [];

beforeAll(async () => {
  node = await startSshd({ user: "root" });
  python = await writablePython("3.11");
  const stdlib = join(dirname(python), "..", "lib", "python3.11");
  planted = join(stdlib, "sitecustomize.py");
  // The file by name, and the digest of the folder it was added to.
  plantedChanges = `${stdlib}/ changed; ${planted} added`;
  config = nodeSettings(node, { interpreters: [python], allow_root_login: true });
  server = await startCheckerServer({ nodes: [config] });
  servers.push(server);
}, 300_000);

afterAll(async () => {
  for (const each of servers) await each.stop();
  await node?.dispose();
});

/** Waits until GET /api/nodes shows clean-1 unhealthy with an error matching `error`. */
async function unhealthy(target: CheckerServer, error: RegExp): Promise<string> {
  const health = await eventually(
    `clean-1 unhealthy with an error matching ${error}`,
    async (seen) => {
      const current = await nodeHealth(target, "clean-1");
      seen.last = current;
      return current && !current.healthy && error.test(current.lastError) ? current : undefined;
    },
    60_000,
  );
  return health.lastError;
}

/** What an administrator does: remove what was planted, then `pydepot node probe clean-1` (warned about root). */
async function cleanAndProbe(): Promise<void> {
  rmSync(planted, { force: true });
  const probe = expectOk(await runCli(server, config, ["node", "probe", "clean-1"]));
  expect(probe.stderr).toMatch(/^WARNING: node clean-1 may log in as root \(allow_root_login = true\)/m);
  expect(probe.stdout).toContain(`${python}\tPython 3.11`);
  const health = await nodeHealth(server, "clean-1");
  expect([health?.healthy, health?.lastError]).toEqual([true, ""]);
}

function pendingOnQuarantine(filename: string) {
  return waitForCheck(server, filename, "pending on the quarantined node", (check) => check.status === "pending" && /is quarantined/.test(check.reason), 60_000);
}

describe("a root login allowed explicitly", () => {
  test("is warned about at start", () => {
    expect(server.log.join("\n")).toMatch(/^WARNING: node clean-1 may log in as root \(allow_root_login = true\): every check there runs untrusted code as root/m);
  });

  test("first variant: a wheel plants a sitecustomize that breaks every start: it fails, the node is quarantined naming the file, the gate works after cleaning", async () => {
    const crash = await addFile(server, await buildFixture({ fixture: "tamper-crash" }));
    const { state, check } = await waitForVerdict(server, crash);
    expect(state.verification).toBe("failed");
    expect(check.reason).toBe(`the check changed the node: ${plantedChanges}`);
    const error = await unhealthy(server, /is quarantined/);
    expect(error).toBe(
      `node clean-1 is quarantined: the start-up files of ${python} changed during check #${check.id} (\`pydepot checks\` names its file): ${plantedChanges} (clean it, then run \`pydepot node probe clean-1\`)`,
    );
    expect(await listed(server.index, "tamper-crash")).toEqual([]);

    // Every later check waits, naming the change, instead of running on the changed interpreter.
    const innocent = await addFile(server, await buildWheel("dep-b"));
    const waiting = await pendingOnQuarantine(innocent);
    expect(waiting.check.reason).toContain(`${planted} added`);
    expect(waiting.check.reason).toContain("pydepot node probe clean-1");
    // Readers of dep-b learn nothing of the file that changed the node.
    expect(waiting.check.reason).not.toContain(crash);
    expect(await listed(server.index, "dep-b")).toEqual([]);

    await cleanAndProbe();
    const after = await waitForVerdict(server, innocent);
    expect([after.state.verification, after.check.reason]).toEqual(["verified", "installed and imported 1 modules"]);
    expect(await listed(server.index, "dep-b")).toEqual([innocent]);
    expect(await listed(server.index, "tamper-crash")).toEqual([]);
  });

  test("second variant: a planted hook that would pass another project's failing import: the broken wheel is never listed, and fails once the node is clean", async () => {
    const hook = await addFile(server, await buildFixture({ fixture: "tamper-hook" }));
    const planting = await waitForVerdict(server, hook);
    expect(planting.state.verification).toBe("failed");
    expect(planting.check.reason).toBe(`the check changed the node: ${plantedChanges}`);
    await unhealthy(server, new RegExp(`is quarantined: .*${planted.replaceAll(".", "\\.")} added`));

    const victim = await addFile(server, await buildFixture({ fixture: "hooked-victim" }));
    await pendingOnQuarantine(victim);
    expect(await listed(server.index, "hooked-victim")).toEqual([]);
    expect(await listed(server.index, "tamper-hook")).toEqual([]);

    await cleanAndProbe();
    const { state, check } = await waitForVerdict(server, victim);
    expect(state.verification).toBe("failed");
    expect(check.reason).toBe("import hooked_victim failed: ImportError: hooked_victim: the fixture refuses to be imported");
    expect(await listed(server.index, "hooked-victim")).toEqual([]);
    expect(await listed(server.staging, "hooked-victim")).toEqual([]);
  });

  test("a change made between checks: the next check finds it, and what the node verified since its last good comparison goes back to pending", async () => {
    const earlier = await addFile(server, await buildWheel("demo-pkg", { version: "3.0" }));
    expect((await waitForVerdict(server, earlier)).state.verification).toBe("verified");
    expect(await listed(server.index, "demo-pkg")).toEqual([earlier]);

    // Planted by other means (the node's own users, another tool): found by the next check.
    writeFileSync(planted, "import os\n");
    const next = await addFile(server, await buildWheel("demo-pkg", { version: "3.1" }));
    const waiting = await pendingOnQuarantine(next);
    expect(waiting.check.reason).toBe(
      `node clean-1 is quarantined: the start-up files of ${python} changed since the probe: ${plantedChanges} (clean it, then run \`pydepot node probe clean-1\`)`,
    );
    const requeued = await fileChecks(server, earlier);
    expect(requeued.verification).toBe("pending");
    expect(requeued.checks.map((check) => [check.purpose, check.status])).toEqual([
      ["reverify", "pending"],
      ["new", "verified"],
    ]);
    expect(await listed(server.index, "demo-pkg")).toEqual([]);

    await cleanAndProbe();
    for (const filename of [earlier, next]) {
      const { state } = await waitForCheck(server, filename, "verified again", (check) => check.status === "verified", 90_000);
      expect(state.verification).toBe("verified");
    }
    expect((await listed(server.index, "demo-pkg")).sort()).toEqual([earlier, next].sort());
  });
});

describe("a root login not allowed", () => {
  test("is warned about at start, refused at probe, and leaves the checks pending", async () => {
    const refused = await startCheckerServer({ nodes: [{ ...config, allow_root_login: false }] });
    servers.push(refused);
    expect(refused.log.join("\n")).toMatch(/^WARNING: node clean-1 logs in as root: the login root is root, and checks run untrusted code as their login/m);
    const filename = await addFile(refused, await buildWheel("dep-b"));
    const refusal =
      "the login root is root, and checks run untrusted code as their login: refused unless the node's configuration says allow_root_login = true (README: The import checker)";
    const message = `node clean-1: ${refusal}`;
    const { state, check } = await waitForCheck(refused, filename, "pending with the refusal", (candidate) => candidate.status === "pending" && candidate.reason !== "", 60_000);
    expect([state.verification, check.reason]).toEqual(["pending", message]);
    expect(await unhealthy(refused, /refused unless/)).toBe(message);
    await expect(refused.services.checks.probe("clean-1")).rejects.toThrow(refusal);
    expect(await listed(refused.index, "dep-b")).toEqual([]);
  });
});
