// What a check's node sends back is bounded. On Linux check.py shuts the code it runs out of its
// own output (see proofs.test.ts: "a verdict is check.py's own"), but a node elsewhere, or one
// not running check.py as sent, can still write past any size: the server keeps 16 MiB, cuts the
// connection there, and the file fails saying why. Unbounded, the server held all of it in memory
// and then failed to make one string of it. The node stays healthy and checks the next file.
// On a node that runs several checks at once, the flood could be another check's: the check runs
// again with the node to itself, and fails there; before, it was put off and flooded for ever.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { addFile, buildFixture, interceptingPython, nodeHealth, nodeSettings, startCheckerServer, waitForVerdict, type CheckerServer } from "../support/checker.js";
import { buildWheel } from "../support/packages.js";
import { startSshd, type SshdNode } from "../support/sshd.js";

const REASON = "the check's output passed 16 MiB, where it was cut off: something on the node other than check.py wrote to it (code from the file, where the node lets it)";

let node: SshdNode;
let server: CheckerServer;

/** Python 3.11, except that the check of a dep-a wheel answers with 20 MiB of output. */
const floodingForDepA = () => interceptingPython('"filename":"dep_a-', "head -c 20971520 /dev/zero; exit 0");

beforeAll(async () => {
  node = await startSshd();
  server = await startCheckerServer({ nodes: [nodeSettings(node, { interpreters: [floodingForDepA()] })] });
}, 300_000);

afterAll(async () => {
  await server?.stop();
  await node?.dispose();
});

test("a check whose output floods fails at 16 MiB with the reason, and the node checks the next file", async () => {
  const flood = await addFile(server, await buildWheel("dep-a"));
  const { state, check } = await waitForVerdict(server, flood, 180_000);
  expect([check.status, check.reason], check.log).toEqual(["failed", REASON]);
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
    parallel = await startCheckerServer({ nodes: [nodeSettings(shared, { parallel: 2, interpreters: [floodingForDepA()] })] });
  }, 300_000);

  afterAll(async () => {
    await parallel?.stop();
    await shared?.dispose();
  });

  test("a flood runs again with the node to itself, fails there with the reason, and the node checks the next file", async () => {
    const flood = await addFile(parallel, await buildWheel("dep-a"));
    const { check } = await waitForVerdict(parallel, flood, 180_000);
    expect([check.status, check.reason], check.log).toEqual(["failed", REASON]);
    expect(check.alone).toBe(true);

    const next = await addFile(parallel, await buildWheel("dep-b"));
    expect((await waitForVerdict(parallel, next, 180_000)).check.status).toBe("verified");
  }, 400_000);
});
