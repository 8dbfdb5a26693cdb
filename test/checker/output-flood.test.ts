// What a check's node sends back is bounded: an import that writes 600 MiB into the check's own
// output (around check.py, which keeps its children's output in a bounded file) is cut off at
// 16 MiB, and the file fails saying why. Unbounded, the server held all of it in memory and then
// failed to make one string of it. The node stays healthy and checks the next file as before.
// On a node that runs several checks at once, the flood could be another check's: the check runs
// again with the node to itself, and fails there; before, it was put off and flooded for ever.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { addFile, buildFixture, nodeHealth, nodeSettings, startCheckerServer, waitForVerdict, type CheckerServer } from "../support/checker.js";
import { buildWheel } from "../support/packages.js";
import { startSshd, type SshdNode } from "../support/sshd.js";

let node: SshdNode;
let server: CheckerServer;

beforeAll(async () => {
  node = await startSshd();
  server = await startCheckerServer({ nodes: [nodeSettings(node)] });
}, 300_000);

afterAll(async () => {
  await server?.stop();
  await node?.dispose();
});

test("an import that floods the check's output fails at 16 MiB with the reason, and the node checks the next file", async () => {
  const flood = await addFile(server, await buildFixture({ fixture: "output-flood" }));
  const { state, check } = await waitForVerdict(server, flood, 180_000);
  const reason = "the check's output passed 16 MiB: code from the file wrote to the check's own output, which was cut off there";
  expect([check.status, check.reason], check.log).toEqual(["failed", reason]);
  expect(state.verification).toBe("failed");
  const health = await nodeHealth(server, "clean-1");
  expect([health?.healthy, health?.lastError]).toEqual([true, ""]);

  const next = await addFile(server, await buildWheel("dep-b"));
  expect((await waitForVerdict(server, next, 180_000)).check.status).toBe("verified");
}, 400_000);

test("a good file whose imports print much is no flood: check.py keeps its answer within what the server reads, and says what it cut", async () => {
  const chatty = await addFile(server, await buildFixture({ fixture: "chatty-modules" }));
  const { state, check } = await waitForVerdict(server, chatty, 180_000);
  expect([check.status, check.reason]).toEqual(["verified", "installed and imported 3 modules"]);
  expect(state.verification).toBe("verified");
  expect(check.log).toMatch(/\[\.\.\. \d+ characters cut: the check's answer keeps at most 8 MiB \.\.\.\]/);
  // The end of the log, where the verdict is, is kept.
  expect(check.log.trimEnd().split("\n").at(-1)).toBe("[verified: installed and imported 3 modules]");
}, 400_000);

describe("on a node that runs two checks at once", () => {
  let shared: SshdNode;
  let parallel: CheckerServer;

  beforeAll(async () => {
    shared = await startSshd();
    parallel = await startCheckerServer({ nodes: [nodeSettings(shared, { parallel: 2 })] });
  }, 300_000);

  afterAll(async () => {
    await parallel?.stop();
    await shared?.dispose();
  });

  test("a flood runs again with the node to itself, fails there with the reason, and the node checks the next file", async () => {
    const flood = await addFile(parallel, await buildFixture({ fixture: "output-flood" }));
    const { check } = await waitForVerdict(parallel, flood, 180_000);
    expect([check.status, check.reason], check.log).toEqual(["failed", "the check's output passed 16 MiB: code from the file wrote to the check's own output, which was cut off there"]);
    expect(check.alone).toBe(true);

    const next = await addFile(parallel, await buildWheel("dep-b"));
    expect((await waitForVerdict(parallel, next, 180_000)).check.status).toBe("verified");
  }, 400_000);
});
