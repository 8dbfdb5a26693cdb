// When checks run: a new artifact is picked up by the wake-up after its commit (the periodic
// sweep is an hour away here), `pydepot check FILE --node N` runs them now from another process,
// a re-verification keeps the history and notices a node that drifted, and a node with
// parallel = 2 runs two checks at once, never more.
import { chmodSync, rmSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import {
  addFile,
  buildFixture,
  buildTestLibrary,
  fileChecks,
  listed,
  nodeSettings,
  runCli,
  startCheckerServer,
  temporaryFolder,
  waitForCheck,
  waitForVerdict,
  type CheckerServer,
  type NodeSettings,
} from "../support/checker.js";
import { expectOk } from "../support/commands.js";
import { buildWheel } from "../support/packages.js";
import { startSshd, type SshdNode } from "../support/sshd.js";

/** No sweep within a test's lifetime: whatever runs was started by a wake-up (or by hand). */
const NO_SWEEP = { sweep_seconds: 3600 };

let node: SshdNode;
let nodeConfig: NodeSettings;
let server: CheckerServer;
/** dep-b's wheel, checked first and again in every later test of the first server. */
let pureFile: string;
const extraServers: CheckerServer[] = [];

beforeAll(async () => {
  node = await startSshd();
  nodeConfig = nodeSettings(node, { parallel: 2 });
  server = await startCheckerServer({ nodes: [nodeConfig], checker: NO_SWEEP });
}, 300_000);

afterAll(async () => {
  for (const other of extraServers) await other.stop();
  await server?.stop();
  await node?.dispose();
});

/** The CLI as installed, on the server's storage and node. */
async function pydepot(...args: string[]): Promise<string> {
  return expectOk(await runCli(server, nodeConfig, args)).stdout;
}

describe("picking up work", () => {
  test("a new artifact is checked after the wake-up of its commit, with no sweep and no call", async () => {
    pureFile = await addFile(server, await buildWheel("dep-b"));
    const { state, check } = await waitForVerdict(server, pureFile, 60_000);
    expect([state.verification, check.purpose, check.status]).toEqual(["verified", "new", "verified"]);
    expect(await listed(server.index, "dep-b")).toEqual([pureFile]);
  });

  test("`pydepot check FILE --node N` runs its checks on every interpreter now and prints the matrix; `checks` and `node list` show it", async () => {
    const printed = await pydepot("check", pureFile, "--node", nodeConfig.name);
    expect(printed.split("\n")).toEqual([
      `${pureFile}: verified`,
      expect.stringMatching(/^ {2}Python 2\.7 linux-x86_64\tverified on clean-1 \S+python2\.7 in \d+\.\d s\tinstalled and imported 1 modules$/),
      expect.stringMatching(/^ {2}Python 3\.11 linux-x86_64\tverified on clean-1 \S+python3\.11 in \d+\.\d s\tinstalled and imported 1 modules$/),
      "",
    ]);
    const { checks } = await fileChecks(server, pureFile);
    expect(checks.map((check) => [check.purpose, check.python, check.status])).toEqual([
      ["manual", "3.11", "verified"],
      ["manual", "2.7", "verified"],
      ["new", "3.11", "verified"],
      ["new", "2.7", "verified"],
    ]);
    const history = await pydepot("checks", pureFile);
    expect(history.split("\n")[0]).toBe(`${pureFile}: verified`);
    expect(history).toContain(`    check of ${pureFile} on Python 3.11`);
    expect(await pydepot("node", "list")).toMatch(/^clean-1\thealthy\t\S+\t\n$/);
  });
});

describe("re-verification", () => {
  test("keeps the history, and a node that lost a library fails the file and drops it from /simple/", async () => {
    // linked-ext 2.0 finds libpdtest.so through an rpath into a folder of this test: present
    // at first, then removed, as a system library an upgrade took away.
    const libraryFolder = temporaryFolder("node-libraries");
    // Readable by the node's unprivileged login, as a system library folder is.
    chmodSync(libraryFolder, 0o755);
    const library = await buildTestLibrary(libraryFolder);
    const built = await buildFixture({
      fixture: "linked-ext",
      env: { LINKED_EXT_VERSION: "2.0", LIBRARY_PATH: libraryFolder, LDFLAGS: `-Wl,-rpath,${libraryFolder}` },
      inputs: [library],
    });
    const filename = await addFile(server, built);
    const first = await waitForVerdict(server, filename, 60_000);
    expect([first.state.verification, first.check.missingLibraries]).toEqual(["verified", []]);
    expect(first.check.log).toContain(`libpdtest.so => ${library}`);
    expect(await listed(server.index, "linked-ext")).toEqual([filename]);

    rmSync(library);
    const queued = server.services.checks.reverifyAll();
    expect(queued).toBeGreaterThanOrEqual(2); // linked-ext and dep-b, at least
    const drifted = await waitForCheck(server, filename, "a failed re-verification", (check) => check.purpose === "reverify" && check.status === "failed", 60_000);
    expect(drifted.state.verification).toBe("failed");
    expect(drifted.check.missingLibraries).toEqual(["libpdtest.so"]);
    expect(drifted.check.reason).toContain("native libraries not found on the node: libpdtest.so");
    expect(drifted.check.log).toMatch(/libpdtest\.so => not found/);
    expect(drifted.state.checks.map((check) => [check.purpose, check.status])).toEqual([
      ["reverify", "failed"],
      ["new", "verified"],
    ]);
    expect(await listed(server.index, "linked-ext")).toEqual([]);
    expect(await listed(server.staging, "linked-ext")).toEqual([]);

    // The healthy file passes again and keeps every earlier verdict.
    const healthy = await waitForCheck(server, pureFile, "a passed re-verification", (check) => check.purpose === "reverify" && check.status === "verified", 60_000);
    expect(healthy.state.checks.map((check) => [check.purpose, check.python, check.status])).toEqual([
      ["reverify", "3.11", "verified"],
      ["reverify", "2.7", "verified"],
      ["manual", "3.11", "verified"],
      ["manual", "2.7", "verified"],
      ["new", "3.11", "verified"],
      ["new", "2.7", "verified"],
    ]);
    expect(await listed(server.index, "dep-b")).toEqual([pureFile]);
  });
});

describe("parallelism", () => {
  test("a node with parallel = 2 runs two checks at once, never more", async () => {
    // A server of its own: the node is met for the first time while four files arrive.
    const fresh = await startCheckerServer({ nodes: [nodeConfig], checker: NO_SWEEP });
    extraServers.push(fresh);
    const wheels = await Promise.all(["2.0", "2.1", "2.2", "2.3"].map((version) => buildFixture({ fixture: "slow-import", env: { SLOW_IMPORT_VERSION: version } })));
    const files: string[] = [];
    for (const wheel of wheels) files.push(await addFile(fresh, wheel));

    let most = 0;
    const seen: string[] = [];
    const deadline = Date.now() + 120_000;
    for (;;) {
      // Counted in one read of the server's database: four answers over HTTP are four moments, between
      // which one check may end and the next start, which showed three running that never ran at once.
      const running = fresh.services.stores.checks.running().map((check) => check.filename);
      most = Math.max(most, running.length);
      const states = await Promise.all(files.map((filename) => fileChecks(fresh, filename)));
      const statuses = states.map((state) => state.checks[0]?.status ?? "none");
      const moment = `running: ${running.join(", ") || "none"}`;
      if (seen.at(-1) !== moment) seen.push(moment);
      if (statuses.every((status) => status === "verified" || status === "failed")) break;
      if (Date.now() > deadline) throw new Error(`the four checks did not finish within 120 s; seen:\n${seen.join("\n")}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(most, `seen:\n${seen.join("\n")}`).toBe(2);
    for (const filename of files) expect((await fileChecks(fresh, filename)).verification).toBe("verified");
  });
});
