// What follows when a file reaches /simple/ through the checker, on a real OpenSSH node with
// Python 3.11 and 2.7: a later build that was stored while its baseline was still pending is
// compared with the baseline once that is verified (and held when it lost a library), and a file
// whose dependency had no file for an interpreter is checked again once the dependency arrives. Builds come from a scripted agent (real cp311 wheels of regress-ext built by the
// suite: 1.0 links zlib, 2.0 does not), so the order is the test's.
import { readFile } from "node:fs/promises";
import { basename } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { addFile, buildFixture, listed, nodeSettings, startCheckerServer, waitForMatrix, type CheckerServer } from "../support/checker.js";
import { FakeAgent, TARGETS, type LeasedJobMessage } from "../support/farm-api.js";
import { buildSdist, buildWheel } from "../support/packages.js";
import { startSshd, type SshdNode } from "../support/sshd.js";

/** Real checks on two interpreters: generous on a busy 2-core machine. */
const CHECKS_TIMEOUT_MS = 300_000;
const ZLIB = "libz.so.1 => /lib/x86_64-linux-gnu/libz.so.1";
const REGRESS_1 = "regress_ext-1.0-cp311-cp311-linux_x86_64.whl";
const REGRESS_2 = "regress_ext-2.0-cp311-cp311-linux_x86_64.whl";

let node: SshdNode;
let server: CheckerServer;

beforeAll(async () => {
  node = await startSshd();
  // Down at first: what is stored stays pending until the test brings the node back.
  await node.stop();
  server = await startCheckerServer({ nodes: [nodeSettings(node, { parallel: 2 })] });
}, 300_000);

afterAll(async () => {
  await server?.stop();
  await node?.dispose();
});

/** Answer the job with a wheel built by the suite, reporting the libraries `ldd` would. */
async function deliver(agent: FakeAgent, job: LeasedJobMessage, path: string, linked: string[]): Promise<void> {
  const built = { filename: basename(path), bytes: await readFile(path) };
  const answer = await agent.result(job.id, { status: "succeeded", linked: { [built.filename]: linked } }, [built]);
  if (answer.status !== 200) throw new Error(`result of ${job.project} ${job.version} refused: ${answer.status} ${answer.statusText}`);
}

describe("a baseline verified after the build it should have been compared with", { timeout: CHECKS_TIMEOUT_MS }, () => {
  test("2.0, stored while 1.0 was pending, is held once 1.0 is verified: it no longer links zlib", async () => {
    const [sdist1, sdist2, wheel1, wheel2] = await Promise.all([
      buildSdist("regress-ext", { version: "1.0" }),
      buildSdist("regress-ext", { version: "2.0" }),
      buildWheel("regress-ext", { version: "1.0" }),
      buildWheel("regress-ext", { version: "2.0" }),
    ]);
    expect([basename(wheel1), basename(wheel2)]).toEqual([REGRESS_1, REGRESS_2]);
    // The agent first: sdists stored before a target appears are built for their latest release only.
    const agent = await FakeAgent.register(server.url, server.services.agents.createEnrolment("test", "test"), "builder", [TARGETS.wheel311], 2);
    await addFile(server, sdist1);
    await addFile(server, sdist2);
    const jobs = new Map<string, LeasedJobMessage>();
    for (let job = await agent.lease(); job; job = await agent.lease()) jobs.set(job.version, job);
    expect([...jobs.keys()].sort()).toEqual(["1.0", "2.0"]);
    await deliver(agent, jobs.get("1.0")!, wheel1, [ZLIB]);
    await deliver(agent, jobs.get("2.0")!, wheel2, []);
    // 1.0 is pending, so nothing was listed to compare 2.0 with.
    const files = server.services.stores.files;
    expect([files.byFilename(REGRESS_1)!.verification, files.byFilename(REGRESS_2)!.holdReason]).toEqual(["pending", ""]);

    await node.restart();
    const first = await waitForMatrix(server, REGRESS_1, 1);
    const second = await waitForMatrix(server, REGRESS_2, 1);
    expect([first.state.verification, second.state.verification]).toEqual(["verified", "verified"]);
    expect(files.byFilename(REGRESS_2)!.holdReason).toBe(`regressed from ${REGRESS_1}: no longer links libz.so.1`);
    expect((await listed(server.index, "regress-ext")).sort()).toEqual(["regress-ext-1.0.tar.gz", "regress-ext-2.0.tar.gz", REGRESS_1]);
    expect(await listed(server.staging, "regress-ext")).toContain(REGRESS_2);
    const held = server.services.stores.history.forProject("regress-ext").filter((event) => event.action === "file.held");
    expect(held.map((event) => [event.subject, event.detail])).toEqual([[REGRESS_2, `regressed from ${REGRESS_1}: no longer links libz.so.1 (compared again once ${REGRESS_1} was listed)`]]);
  });
});

describe("a dependency that had no file yet", { timeout: CHECKS_TIMEOUT_MS }, () => {
  test("is unresolvable at first; once the dependency arrives, the dependent is checked again and verified on 3.11", async () => {
    const dependent = await addFile(server, await buildFixture({ fixture: "needs-py3-dep" }));
    const before = await waitForMatrix(server, dependent, 2);
    expect(before.state.matrix.map((entry) => [entry.python, entry.verdict, entry.reason])).toEqual([
      ["2.7", "unresolvable", "dependency py3-dep>=1.0 has no file on the index that Python 2.7 installs"],
      ["3.11", "unresolvable", "dependency py3-dep>=1.0 has no file on the index that Python 3.11 installs"],
    ]);

    // The dependency's build arrives (a py3 wheel: it installs on 3.11 only).
    const dependency = await addFile(server, await buildFixture({ fixture: "py3-dep" }));
    expect((await waitForMatrix(server, dependency, 1)).state.verification).toBe("verified");

    const after = await waitForMatrix(server, dependent, 2);
    expect(after.byPython["3.11"].verdict).toBe("verified");
    expect(after.byPython["2.7"].verdict).toBe("unresolvable");
    // The interpreter the dependency resolves on is checked again; its first verdict stays as history.
    expect(after.state.checks.filter((check) => check.python === "3.11").map((check) => [check.purpose, check.status, check.cause])).toEqual([
      ["reverify", "verified", ""],
      ["new", "failed", "unresolvable"],
    ]);
    expect(after.state.verification).toBe("failed");
    expect(await listed(server.index, "needs-py3-dep")).toEqual([]);
  });
});
