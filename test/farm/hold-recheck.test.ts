// A regressed build is caught even when its baseline is listed after it: each time a file reaches
// the default index, the project's later builds for a target it installs on are compared with it.
// A hold an admin released stays released. A real server over HTTP without checker nodes (files
// are listed when stored) and a scripted agent delivering builds in the order the test picks:
// 2.0 (which no longer links zlib) before 1.0 (which does). The same comparison after a check
// verifies the baseline is in test/checker/recheck.test.ts, on a real node.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { sdist, wheel } from "../support/artifacts.js";
import { FakeAgent, TARGETS, type LeasedJobMessage } from "../support/farm-api.js";
import { startTestServer, type TestServer } from "../support/server.js";
import { anchors, get, publish } from "../http/requests.js";

const ZLIB = "libz.so.1 => /lib/x86_64-linux-gnu/libz.so.1";
const wheelName = (version: string) => `regress_pkg-${version}-cp311-cp311-linux_x86_64.whl`;

let server: TestServer;
let agent: FakeAgent;
let alice: string;

beforeAll(async () => {
  server = await startTestServer();
  alice = await server.userToken("alice");
  agent = await FakeAgent.register(server.url, server.services.agents.createEnrolment("test", "test"), "builder", [TARGETS.wheel311], 2);
});

afterAll(() => server?.stop());

/** Lease the jobs of the given versions (all queued now). */
async function lease(count: number): Promise<Map<string, LeasedJobMessage>> {
  const jobs = new Map<string, LeasedJobMessage>();
  for (let found = 0; found < count; found++) {
    const job = await agent.lease();
    if (!job) throw new Error(`only ${found} of ${count} jobs to lease`);
    jobs.set(job.version, job);
  }
  return jobs;
}

/** Answer a job with a cp311 wheel holding one compiled module, linking zlib or not. */
async function deliver(job: LeasedJobMessage, linksZlib: boolean): Promise<void> {
  const built = await wheel({
    name: "regress-pkg",
    version: job.version,
    tags: "cp311-cp311-linux_x86_64",
    extraFiles: { "regress_pkg/_native.cpython-311-x86_64-linux-gnu.so": "compiled" },
  });
  const linked = { [built.filename]: linksZlib ? [ZLIB] : [] };
  const answer = await agent.result(job.id, { status: "succeeded", linked }, [built]);
  if (answer.status !== 200) throw new Error(`result of ${job.version} refused: ${answer.status} ${answer.statusText}`);
}

const listed = async () => anchors((await get(`${server.index}regress-pkg/`, { accept: "text/html" })).body).map((anchor) => anchor.text).filter((name) => name.endsWith(".whl"));
const holdOf = (version: string) => server.services.stores.files.byFilename(wheelName(version))!.holdReason;
const heldEvents = () => server.services.stores.history.forProject("regress-pkg").filter((event) => event.action === "file.held");

describe("a baseline listed after the build it should have been compared with", () => {
  test("2.0 is stored first, unheld (no baseline yet); once 1.0 is listed, 2.0 is compared with it and held", async () => {
    await publish(server, alice, await sdist({ name: "regress-pkg", version: "1.0" }), await sdist({ name: "regress-pkg", version: "2.0" }));
    const jobs = await lease(2);
    await deliver(jobs.get("2.0")!, false);
    expect(holdOf("2.0")).toBe("");
    expect(await listed()).toEqual([wheelName("2.0")]);

    await deliver(jobs.get("1.0")!, true);
    expect(holdOf("1.0")).toBe("");
    expect(holdOf("2.0")).toBe(`regressed from ${wheelName("1.0")}: no longer links libz.so.1`);
    expect(await listed()).toEqual([wheelName("1.0")]);
    expect(heldEvents().map((event) => [event.actor, event.subject, event.detail])).toEqual([
      ["pydepot", wheelName("2.0"), `regressed from ${wheelName("1.0")}: no longer links libz.so.1 (compared again once ${wheelName("1.0")} was listed)`],
    ]);
  });

  test("an admin releases the hold; a later baseline (1.5, listed after) does not hold 2.0 again", async () => {
    server.services.releases.releaseHold({ kind: "system", name: "cli:alice" }, "regress-pkg", wheelName("2.0"), "zlib support moved to an extra on purpose");
    expect(await listed()).toEqual([wheelName("1.0"), wheelName("2.0")]);

    await publish(server, alice, await sdist({ name: "regress-pkg", version: "1.5" }));
    const jobs = await lease(1);
    await deliver(jobs.get("1.5")!, true);
    expect(holdOf("1.5")).toBe("");
    expect(holdOf("2.0")).toBe("");
    expect(await listed()).toEqual([wheelName("1.0"), wheelName("1.5"), wheelName("2.0")]);
    expect(heldEvents()).toHaveLength(1);
  });

  test("a later build that was never released is held again by a newer baseline: 3.0 compared with 2.5", async () => {
    await publish(server, alice, await sdist({ name: "regress-pkg", version: "2.5" }), await sdist({ name: "regress-pkg", version: "3.0" }));
    const jobs = await lease(2);
    // 3.0 is compared at its ingest with 2.0 (the last listed build then), which links nothing: not held.
    await deliver(jobs.get("3.0")!, false);
    expect(holdOf("3.0")).toBe("");
    await deliver(jobs.get("2.5")!, true);
    expect(holdOf("3.0")).toBe(`regressed from ${wheelName("2.5")}: no longer links libz.so.1`);
    expect(await listed()).toEqual([wheelName("1.0"), wheelName("1.5"), wheelName("2.0"), wheelName("2.5")]);
  });
});
