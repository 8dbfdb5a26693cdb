// The farm's rules without real builds: an in-process server and agents played over HTTP by the
// test (the same requests src/agent sends), which is quick and lets a test be the agent that
// misbehaves. Races for one job, the backfill rule for a target that registers late, expired
// leases and the attempt limit, an admin's re-queue and cancel, the agent listing, and every kind
// of bad input an agent can send, each refused with a clear message and nothing stored.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { egg, mismatchedWheel, sdist, wheel, type Artifact } from "../support/artifacts.js";
import { expectOk } from "../support/commands.js";
import { pydepot } from "../support/farm.js";
import {
  AGENT_VERSION_HEADER,
  bearer,
  FakeAgent,
  indexFilenames,
  LEASE_SECRET_HEADER,
  listAgents,
  listJobs,
  request,
  showJob,
  TARGET_KEYS,
  TARGETS,
  tokenAuth,
  uploadFile,
  type JobRow,
  type Reply,
} from "../support/farm-api.js";
import { startTestServer, type TestServer } from "../support/server.js";
import { snapshot } from "../support/snapshot.js";
import { VERSION } from "../../src/version.js";

interface Setup {
  server: TestServer;
  uploader: string;
  admin: string;
  enrolment: string;
}

async function farmServer(farm: { lease_seconds?: number; max_attempts?: number; max_log_mib?: number } = {}): Promise<Setup> {
  const server = await startTestServer({ farm });
  return {
    server,
    uploader: await server.userToken("uploader"),
    admin: await server.userToken("admin", { admin: true }),
    enrolment: server.services.agents.createEnrolment("test", "test"),
  };
}

async function publish(setup: Setup, ...artifacts: Artifact[]): Promise<void> {
  for (const artifact of artifacts) {
    const reply = await uploadFile(setup.server.url, setup.uploader, artifact);
    if (reply.status !== 200) throw new Error(`upload of ${artifact.filename}: ${reply.status} ${reply.statusText}`);
  }
}

/** Every row and stored file, except when each agent was last seen (every request it makes sets that). */
function state(server: TestServer) {
  const current = snapshot(server.services.db, server.storage);
  for (const row of current.rows.agents as { last_seen_at: string }[]) row.last_seen_at = "(any)";
  return current;
}

/** The refusal a client prints (status, reason phrase and body), and not one row or file changed. */
async function expectRefused(server: TestServer, send: () => Promise<Reply>, status: number, message: string | RegExp): Promise<void> {
  const before = state(server);
  const reply = await send();
  if (typeof message === "string") {
    expect({ status: reply.status, statusText: reply.statusText, body: reply.body }).toEqual({ status, statusText: message, body: `${message}\n` });
  } else {
    expect(reply.status, reply.body).toBe(status);
    expect(reply.body).toMatch(message);
    expect(reply.statusText).toMatch(new RegExp(message.source.replace(/[^\x20-\x7e]/g, ".")));
  }
  expect(state(server)).toEqual(before);
}

describe("two agents racing", () => {
  let setup: Setup;
  let racers: FakeAgent[];

  beforeAll(async () => {
    setup = await farmServer();
    // Twelve slots each: any one of them may win every job of the crowd below.
    racers = await Promise.all(["racer-a", "racer-b", "racer-c", "racer-d"].map((name) => FakeAgent.register(setup.server.url, setup.enrolment, name, [TARGETS.wheel311], 12)));
  });
  afterAll(() => setup?.server.stop());

  test("two agents asking at the same moment for the one queued job: exactly one leases it", async () => {
    await publish(setup, await sdist({ name: "raced", version: "1.0" }));
    const [a, b] = racers;
    const replies = await Promise.all([a.leaseReply(0), b.leaseReply(0)]);
    expect(replies.map((reply) => reply.status).sort()).toEqual([200, 204]);
    const winner = replies[0].status === 200 ? a : b;
    const leased = JSON.parse(replies.find((reply) => reply.status === 200)!.body).job;
    expect(leased).toMatchObject({ project: "raced", version: "1.0", target: { key: TARGET_KEYS.wheel311 } });
    const [job] = await listJobs(setup.server.url, { project: "raced" });
    expect(job).toMatchObject({ id: leased.id, status: "leased", agent: winner.name, attempts: 1 });
    expect((await showJob(setup.server.url, job.id)).events.map((event) => [event.status, event.agent])).toEqual([
      ["queued", null],
      ["leased", winner.name],
    ]);
    // The loser may not report on it.
    const loser = winner === a ? b : a;
    expect((await loser.log(job.id, ["hello"])).status).toBe(409);
  });

  test("both waiting in a long poll when the sdist arrives: one is woken with the job, the other gets nothing", async () => {
    const [, , c, d] = racers;
    const waiting = Promise.all([c.leaseReply(3), d.leaseReply(3)]);
    await new Promise((resolve) => setTimeout(resolve, 300)); // let both requests reach the server first
    await publish(setup, await sdist({ name: "awaited", version: "1.0" }));
    const replies = await waiting;
    expect(replies.map((reply) => reply.status).sort()).toEqual([200, 204]);
    const [job] = await listJobs(setup.server.url, { project: "awaited" });
    expect(job.status).toBe("leased");
    expect([c.name, d.name]).toContain(job.agent);
  });

  test("an agent killed in a long poll gets no job: the next agent to ask leases it at its first attempt", async () => {
    const [, , c, d] = racers;
    const hangUp = new AbortController();
    const killed = c.leaseReply(10, hangUp.signal).catch((error: Error) => error.name);
    await new Promise((resolve) => setTimeout(resolve, 300)); // the long poll reaches the server
    hangUp.abort();
    expect(await killed).toBe("AbortError");
    await new Promise((resolve) => setTimeout(resolve, 100)); // the server sees the connection close
    await publish(setup, await sdist({ name: "orphaned", version: "1.0" }));
    expect(await d.lease(0)).toMatchObject({ project: "orphaned" });
    const [job] = await listJobs(setup.server.url, { project: "orphaned" });
    expect(job).toMatchObject({ status: "leased", agent: d.name, attempts: 1 });
  });

  test("four agents leasing from twelve queued jobs at once: each job is leased exactly once", async () => {
    for (let index = 0; index < 12; index++) await publish(setup, await sdist({ name: `crowd-${index}`, version: "1.0" }));
    const leasedBy = await Promise.all(
      racers.map(async (agent) => {
        const ids: number[] = [];
        for (let job = await agent.lease(0); job; job = await agent.lease(0)) ids.push(job.id);
        return ids;
      }),
    );
    const all = leasedBy.flat();
    const crowd = (await listJobs(setup.server.url)).filter((job) => job.project.startsWith("crowd-"));
    expect(crowd).toHaveLength(12);
    expect([...all].sort((x, y) => x - y)).toEqual(crowd.map((job) => job.id).sort((x, y) => x - y));
    expect(crowd.every((job) => job.status === "leased" && job.attempts === 1)).toBe(true);
  });
});

describe("backfill: a target that registers late", () => {
  let setup: Setup;

  beforeAll(async () => {
    setup = await farmServer();
  });
  afterAll(() => setup?.server.stop());

  test("gets jobs only for the latest version of each project; a target known before gets every release", async () => {
    await FakeAgent.register(setup.server.url, setup.enrolment, "early", [TARGETS.egg27]);
    await publish(
      setup,
      await sdist({ name: "backfilled", version: "1.0" }),
      await sdist({ name: "backfilled", version: "2.0" }),
      // 10.0 is newer than 9.0 (as versions, not as text)
      await sdist({ name: "other", version: "10.0" }),
      await sdist({ name: "other", version: "9.0" }),
    );
    const releases = async (target: string) =>
      (await listJobs(setup.server.url, { target })).map((job) => `${job.project} ${job.version}`).sort();
    expect(await releases(TARGET_KEYS.egg27)).toEqual(["backfilled 1.0", "backfilled 2.0", "other 10.0", "other 9.0"]);

    await FakeAgent.register(setup.server.url, setup.enrolment, "late", [TARGETS.wheel311]);
    await setup.server.services.planning.idle(); // a new target's jobs for the sdists stored before it are planned in the background
    expect(await releases(TARGET_KEYS.wheel311)).toEqual(["backfilled 2.0", "other 10.0"]);

    // What arrives after it registered is built for it, whatever its version.
    await publish(setup, await sdist({ name: "backfilled", version: "1.5" }));
    expect(await releases(TARGET_KEYS.wheel311)).toEqual(["backfilled 1.5", "backfilled 2.0", "other 10.0"]);
  });
});

describe("expired leases and the attempt limit (lease 1 s, at most 2 attempts)", () => {
  let setup: Setup;

  beforeAll(async () => {
    setup = await farmServer({ lease_seconds: 1, max_attempts: 2 });
  });
  afterAll(() => setup?.server.stop());

  test("an agent that stops answering loses the job to another; after two such attempts the job fails: lease expired", async () => {
    const [first, second] = await Promise.all(["gone-1", "gone-2"].map((name) => FakeAgent.register(setup.server.url, setup.enrolment, name, [TARGETS.wheel311])));
    await publish(setup, await sdist({ name: "unlucky", version: "1.0" }));
    const leased = await first.lease(0);
    expect(leased).toMatchObject({ project: "unlucky", leaseSeconds: 1 });
    // first never reports again; second's long poll sees the lease expire and gets the job.
    const again = await second.lease(10);
    expect(again?.id).toBe(leased!.id);
    expect((await listJobs(setup.server.url, { project: "unlucky" }))[0]).toMatchObject({ status: "leased", agent: "gone-2", attempts: 2 });

    // second goes silent too: the next look at the queue fails the job for good.
    expect((await first.leaseReply(3)).status).toBe(204);
    const details = await showJob(setup.server.url, leased!.id);
    const reason = "lease expired 2 times: the agents building it stopped answering";
    expect(details.job).toMatchObject({ status: "failed", reason, attempts: 2 });
    expect(details.events.map((event) => [event.status, event.agent, event.detail])).toEqual([
      ["queued", null, ""],
      ["leased", "gone-1", ""],
      ["queued", null, "lease expired"],
      ["leased", "gone-2", ""],
      ["failed", null, reason],
    ]);

    // Late news from either agent is refused and stores nothing.
    const notHeld = `Job ${leased!.id} is not leased to this agent (it expired, was cancelled or finished): drop it`;
    const built = await wheel({ name: "unlucky", version: "1.0" });
    await expectRefused(setup.server, () => first.log(leased!.id, ["still here"]), 409, notHeld);
    await expectRefused(setup.server, () => second.result(leased!.id, { status: "succeeded" }, [built]), 409, notHeld);
    expect((await listJobs(setup.server.url, { status: "failed" })).map((job) => job.project)).toEqual(["unlucky"]);
  });
});

describe("admin: re-queue, cancel and the agent listing", () => {
  let setup: Setup;
  let agent: FakeAgent;
  /** The job of "managed" the agent holds, and the one still queued. */
  let held: JobRow;
  let waiting: JobRow;

  beforeAll(async () => {
    setup = await farmServer();
    agent = await FakeAgent.register(setup.server.url, setup.enrolment, "worker", [TARGETS.egg27, TARGETS.wheel311], 2);
    await publish(setup, await sdist({ name: "managed", version: "1.0" }));
  });
  afterAll(() => setup?.server.stop());

  const cli = (...args: string[]) => pydepot(args, setup.server.storage);

  test("`pydepot job cancel` takes a queued job out of the queue; `pydepot build` puts it back", async () => {
    await agent.lease(0); // holds one of the two jobs
    const jobs = await listJobs(setup.server.url, { project: "managed" });
    expect(jobs.map((job) => job.status).sort()).toEqual(["leased", "queued"]);
    held = jobs.find((job) => job.status === "leased")!;
    waiting = jobs.find((job) => job.status === "queued")!;

    expect(expectOk(await cli("job", "cancel", String(waiting.id))).stdout).toBe(
      `#${waiting.id}\tcancelled\tmanaged 1.0\t${waiting.targetKey}\tattempts 0\tcancelled by an admin\n`,
    );
    expect(await agent.lease(0)).toBeNull();

    const requeued = expectOk(await cli("build", "managed", "1.0", "--target", waiting.targetKey)).stdout;
    expect(requeued).toBe(`#${waiting.id}\tqueued\tmanaged 1.0\t${waiting.targetKey}\tattempts 0\tqueued again by an admin\n`);
    expect((await agent.lease(0))?.id).toBe(waiting.id);
    expect((await showJob(setup.server.url, waiting.id)).events.map((event) => [event.status, event.detail])).toEqual([
      ["queued", ""],
      ["cancelled", "cancelled by an admin"],
      ["queued", "queued again by an admin"],
      ["leased", ""],
    ]);
  });

  test("the same over HTTP, for site admins only", async () => {
    const eggJob = held; // leased by the agent: an admin may cancel it under its feet
    const url = setup.server.url;
    await expectRefused(setup.server, () => request(url, `/api/farm/jobs/${eggJob.id}/cancel`, { method: "POST", auth: tokenAuth(setup.uploader) }), 403, "uploader is not a site admin");
    await expectRefused(setup.server, () => request(url, `/api/farm/jobs/${eggJob.id}/cancel`, { method: "POST" }), 401, "This action needs credentials: use __token__ and an API token");
    await expectRefused(setup.server, () => request(url, "/api/farm/builds", { auth: tokenAuth(setup.uploader), body: { project: "managed", version: "1.0" } }), 403, "uploader is not a site admin");

    const cancelled = await request(url, `/api/farm/jobs/${eggJob.id}/cancel`, { method: "POST", auth: tokenAuth(setup.admin) });
    expect(cancelled.status).toBe(200);
    expect(JSON.parse(cancelled.body).job).toMatchObject({ id: eggJob.id, status: "cancelled", reason: "cancelled by an admin", agent: null });
    // The agent that held it hears so on its next report, and may not upload a result.
    await expectRefused(setup.server, () => agent.log(eggJob.id, ["building"]), 409, `Job ${eggJob.id} is not leased to this agent (it expired, was cancelled or finished): drop it`);
    await expectRefused(setup.server, () => request(url, `/api/farm/jobs/${eggJob.id}/cancel`, { method: "POST", auth: tokenAuth(setup.admin) }), 409, `Job ${eggJob.id} is already cancelled`);

    const rebuilt = await request(url, "/api/farm/builds", { auth: tokenAuth(setup.admin), body: { project: "managed", version: "1.0" } });
    expect(rebuilt.status).toBe(200);
    // Every target's job is queued again, except one an agent is building right now.
    expect((JSON.parse(rebuilt.body).jobs as JobRow[]).map((job) => [job.id, job.status]).sort()).toEqual(
      [
        [held.id, "queued"],
        [waiting.id, "leased"],
      ].sort(),
    );
    await expectRefused(
      setup.server,
      () => request(url, "/api/farm/builds", { auth: tokenAuth(setup.admin), body: { project: "managed", version: "9.9" } }),
      404,
      "No build jobs for managed 9.9: is there an sdist and an agent for that target?",
    );
    await expectRefused(setup.server, () => request(url, "/api/farm/builds", { auth: tokenAuth(setup.admin), body: { project: "nothing-here", version: "1.0" } }), 404, "No project named nothing-here");
    const unknown = await cli("build", "nothing-here", "1.0");
    expect({ code: unknown.code, stderr: unknown.stderr }).toEqual({ code: 1, stderr: "pydepot: No project named nothing-here\n" });
  });

  test("agents are listed online or offline, with targets, last seen and current job (CLI and JSON API)", async () => {
    const idle = await FakeAgent.register(setup.server.url, setup.enrolment, "idle", [TARGETS.wheel312]);
    const quiet = await FakeAgent.register(setup.server.url, setup.enrolment, "quiet", [TARGETS.wheel312]);
    // quiet was last heard of long ago (as if its host went away).
    const quietRow = setup.server.services.stores.agents.byName(quiet.name)!;
    setup.server.services.stores.agents.seen(quietRow.id, VERSION, "2020-01-01T00:00:00.000Z");
    expectOk(await cli("agents", "revoke", idle.name));
    const current = (await listJobs(setup.server.url, { status: "leased" })).filter((job) => job.agent === "worker").map((job) => job.id);
    expect(current).toHaveLength(1);

    const lines = expectOk(await cli("agents", "list")).stdout.split("\n\n")[0].split("\n"); // the agents; enrolment secrets follow
    const escapedVersion = VERSION.replace(/\./g, "\\.");
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(new RegExp(`^idle\trevoked\tv${escapedVersion}\tlast seen \\S+\tidle\t${TARGET_KEYS.wheel312}$`));
    expect(lines[1]).toBe(`quiet\toffline\tv${VERSION}\tlast seen 2020-01-01T00:00:00.000Z\tidle\t${TARGET_KEYS.wheel312}`);
    expect(lines[2]).toMatch(new RegExp(`^worker\tonline\tv${escapedVersion}\tlast seen \\S+\tbuilding #${current[0]}\t${TARGET_KEYS.egg27} ${TARGET_KEYS.wheel311}$`));

    const listed = await listAgents(setup.server.url, setup.admin);
    expect(listed.map((row) => ({ name: row.name, online: row.online, targets: row.targets, currentJobs: row.currentJobs, revoked: row.revokedAt !== null }))).toEqual([
      { name: "idle", online: false, targets: [TARGET_KEYS.wheel312], currentJobs: [], revoked: true },
      { name: "quiet", online: false, targets: [TARGET_KEYS.wheel312], currentJobs: [], revoked: false },
      { name: "worker", online: true, targets: [TARGET_KEYS.egg27, TARGET_KEYS.wheel311], currentJobs: current, revoked: false },
    ]);
    expect(listed.find((row) => row.name === "quiet")!.lastSeenAt).toBe("2020-01-01T00:00:00.000Z");
    // Only site admins see agents.
    await expectRefused(setup.server, () => request(setup.server.url, "/api/farm/agents", { auth: tokenAuth(setup.uploader) }), 403, "uploader is not a site admin");
  });
});

describe("build results that are not the job's own: refused, nothing stored, the job failed with the reason in its log", () => {
  let setup: Setup;
  let builder: FakeAgent;
  let release = 0;

  beforeAll(async () => {
    setup = await farmServer();
    builder = await FakeAgent.register(setup.server.url, setup.enrolment, "builder", [TARGETS.wheel311]);
    await publish(setup, await sdist({ name: "other", version: "1.0" }));
    expect((await builder.lease(0))?.project).toBe("other");
    expect((await builder.result((await listJobs(setup.server.url, { project: "other" }))[0].id, { status: "failed", reason: "not needed" })).status).toBe(200);
  });
  afterAll(() => setup?.server.stop());

  /**
   * A fresh release of demo, leased by the builder and answered with `files(version)`: the answer
   * is `message`, no file but the sdist is stored, and the job failed with that reason in its log.
   */
  async function expectRefusedBuild(files: (version: string) => Promise<Artifact[]>, message: (version: string, jobId: number) => string): Promise<void> {
    const version = `1.${++release}`;
    await publish(setup, await sdist({ name: "demo", version }));
    const job = (await builder.lease(0))!;
    expect(job).toMatchObject({ project: "demo", version });
    const expected = message(version, job.id);
    const filesBefore = snapshot(setup.server.services.db, setup.server.storage).files;
    const reply = await builder.result(job.id, { status: "succeeded" }, await files(version));
    expect({ status: reply.status, statusText: reply.statusText }).toEqual({ status: 400, statusText: expected });
    expect(snapshot(setup.server.services.db, setup.server.storage).files).toEqual(filesBefore);
    expect(await indexFilenames(setup.server.url, "other")).toEqual(["other-1.0.tar.gz"]);
    const details = await showJob(setup.server.url, job.id);
    expect(details.job).toMatchObject({ status: "failed", reason: `result refused: ${expected}` });
    expect(details.files).toEqual([]);
    expect(details.log.at(-1)).toMatchObject({ stream: "pydepot", text: `result refused: ${expected}` });
  }

  test("a file for another project, another version or another target", async () => {
    const target = TARGET_KEYS.wheel311;
    await expectRefusedBuild(async () => [await wheel({ name: "other", version: "1.0" })], () => "Filename other-1.0-py3-none-any.whl does not belong to project demo");
    await expectRefusedBuild(async () => [await wheel({ name: "other", version: "9.0" })], () => "Filename other-9.0-py3-none-any.whl does not belong to project demo");
    await expectRefusedBuild(async () => [await wheel({ name: "demo", version: "99.0" })], (version, id) => `demo-99.0-py3-none-any.whl is version 99.0, but job ${id} builds demo ${version}`);
    await expectRefusedBuild(async (version) => [await egg({ name: "demo", version, python: "2.7" })], (version, id) => `demo-${version}-py2.7.egg does not install on target ${target} of job ${id}`);
    await expectRefusedBuild(
      async (version) => [await wheel({ name: "demo", version, tags: "cp312-cp312-linux_x86_64" })],
      (version, id) => `demo-${version}-cp312-cp312-linux_x86_64.whl does not install on target ${target} of job ${id}`,
    );
    // A build may not add an sdist of its own release either.
    await expectRefusedBuild(async (version) => [await sdist({ name: "demo", version, format: "zip" })], (version, id) => `demo-${version}.zip does not install on target ${target} of job ${id}`);
  });

  test("one bad file spoils the whole result: the good one beside it is not kept either", async () => {
    await expectRefusedBuild(
      async (version) => [await wheel({ name: "demo", version }), await wheel({ name: "other", version: "1.0", build: "1" })],
      () => "Filename other-1.0-1-py3-none-any.whl does not belong to project demo",
    );
    await expectRefusedBuild(
      async (version) => [await wheel({ name: "demo", version }), await mismatchedWheel({ name: "demo", version, tags: "cp311-cp311-linux_x86_64", metadataName: "evil" })],
      (version) => `Name mismatch: demo-${version}-cp311-cp311-linux_x86_64.whl is for demo, but its metadata says Name: evil`,
    );
    await expectRefusedBuild(
      async (version) => [await mismatchedWheel({ name: "demo", version, metadataVersion: "6.6.6" })],
      (version) => `Version mismatch: demo-${version}-py3-none-any.whl is version ${version}, but its metadata says Version: 6.6.6`,
    );
  });
});

describe("a second result for one lease, sent at once or replayed: nothing of it is stored", () => {
  let setup: Setup;
  let builder: FakeAgent;

  beforeAll(async () => {
    setup = await farmServer();
    builder = await FakeAgent.register(setup.server.url, setup.enrolment, "builder", [TARGETS.wheel311]);
  });
  afterAll(() => setup?.server.stop());

  test("two results at the same moment: one is taken whole, the other stores nothing", async () => {
    await publish(setup, await sdist({ name: "twice", version: "1.0" }));
    const job = (await builder.lease(0))!;
    const first = await wheel({ name: "twice", version: "1.0", build: "1" });
    const second = await wheel({ name: "twice", version: "1.0", build: "2" });
    const replies = await Promise.all([builder.result(job.id, { status: "succeeded" }, [first]), builder.result(job.id, { status: "succeeded" }, [second])]);
    expect(replies.map((reply) => reply.status).sort()).toEqual([200, 409]);
    const taken = replies[0].status === 200 ? first : second;
    expect(replies.find((reply) => reply.status === 409)!.statusText).toBe(`Job ${job.id} is not leased to this agent (it expired, was cancelled or finished): drop it`);
    expect(await indexFilenames(setup.server.url, "twice")).toEqual([taken.filename, "twice-1.0.tar.gz"]);
    expect((await showJob(setup.server.url, job.id)).job).toMatchObject({ status: "succeeded", reason: `built ${taken.filename}` });
  });

  test("a pure wheel another target already built under another spelling: that job succeeds as already built, nothing stored", async () => {
    const both = await FakeAgent.register(setup.server.url, setup.enrolment, "both", [TARGETS.wheel311, TARGETS.wheel312], 2);
    await publish(setup, await sdist({ name: "spelt", version: "1.0" }));
    const [first, second] = [(await both.lease(0))!, (await both.lease(0))!];
    const stored = await wheel({ name: "spelt", version: "1.0" });
    expect((await both.result(first.id, { status: "succeeded" }, [stored])).status).toBe(200);
    const respelled = { ...(await wheel({ name: "spelt", version: "1.0", extraFiles: { "spelt/other.py": "" } })), filename: "Spelt-1.0-py3-none-any.whl" };
    const reply = await both.result(second.id, { status: "succeeded" }, [respelled]);
    expect(reply.status, reply.statusText).toBe(200);
    expect(await indexFilenames(setup.server.url, "spelt")).toEqual([stored.filename, "spelt-1.0.tar.gz"]);
    expect((await showJob(setup.server.url, second.id)).job).toMatchObject({ status: "succeeded", reason: "already built: Spelt-1.0-py3-none-any.whl" });
  });

  test("a result replayed after the job finished", async () => {
    await publish(setup, await sdist({ name: "replayed", version: "1.0" }));
    const job = (await builder.lease(0))!;
    expect((await builder.result(job.id, { status: "succeeded" }, [await wheel({ name: "replayed", version: "1.0" })])).status).toBe(200);
    const before = state(setup.server);
    const replay = await builder.result(job.id, { status: "succeeded" }, [await wheel({ name: "replayed", version: "1.0", build: "1" })]);
    expect({ status: replay.status, statusText: replay.statusText }).toEqual({ status: 409, statusText: `Job ${job.id} is not leased to this agent (it expired, was cancelled or finished): drop it` });
    expect(state(setup.server)).toEqual(before);
  });
});

describe("a build that prints for ever: its log is kept within a budget (farm.max_log_mib = 1)", () => {
  let setup: Setup;

  beforeAll(async () => {
    setup = await farmServer({ max_log_mib: 1 });
  });
  afterAll(() => setup?.server.stop());

  const fullLine = (limit: number) => `the log reached its limit of ${limit} bytes (farm.max_log_mib; a line counts its text and 64 bytes for its time and stream): later lines of this build are dropped`;

  test("long lines are cut, and past 1 MiB of text one line says the log is full and later lines are dropped; the lease is still kept", async () => {
    const builder = await FakeAgent.register(setup.server.url, setup.enrolment, "builder", [TARGETS.wheel311]);
    await publish(setup, await sdist({ name: "chatty", version: "1.0" }));
    const job = (await builder.lease(0))!;
    const limit = 1024 * 1024;
    // 100 lines of 20,000 characters: 1.6 MiB once cut, more than the budget.
    expect((await builder.log(job.id, Array.from({ length: 100 }, () => "x".repeat(20_000)))).status).toBe(200);
    const full = (await showJob(setup.server.url, job.id)).log;
    expect(full[0].text).toBe(`${"x".repeat(16 * 1024)} [line cut at ${16 * 1024} characters]`);
    expect(full.at(-1)).toMatchObject({ stream: "pydepot", text: fullLine(limit) });
    expect(full.reduce((sum, row) => sum + row.text.length, 0)).toBeLessThanOrEqual(limit + 200);
    expect((await builder.log(job.id, ["more", "and more"])).status).toBe(200);
    expect((await showJob(setup.server.url, job.id)).log).toHaveLength(full.length);
    expect((await builder.result(job.id, { status: "failed", reason: "gave up" })).status).toBe(200);
  });

  test("empty lines count too: a build printing nothing but newlines fills its budget after 1 MiB / 64 lines, not never", async () => {
    const builder = await FakeAgent.register(setup.server.url, setup.enrolment, "newlines", [TARGETS.wheel311]);
    await publish(setup, await sdist({ name: "blank", version: "1.0" }));
    const job = (await builder.lease(0))!;
    for (let batch = 0; batch < 3; batch++) expect((await builder.log(job.id, Array.from({ length: 10_000 }, () => ""))).status).toBe(200);
    const log = (await showJob(setup.server.url, job.id)).log;
    expect(log).toHaveLength((1024 * 1024) / 64);
    expect(log.at(-1)).toMatchObject({ stream: "pydepot", text: fullLine(1024 * 1024) });
    expect((await builder.result(job.id, { status: "failed", reason: "gave up" })).status).toBe(200);
  });
});

describe("bad input from agents: refused with a clear message, nothing stored", () => {
  let setup: Setup;
  let builder: FakeAgent;
  let other: FakeAgent;
  let jobId: number;
  let url: string;

  beforeAll(async () => {
    setup = await farmServer();
    url = setup.server.url;
    builder = await FakeAgent.register(url, setup.enrolment, "builder", [TARGETS.wheel311]);
    other = await FakeAgent.register(url, setup.enrolment, "other-agent", [TARGETS.wheel311]);
    await publish(setup, await sdist({ name: "demo", version: "1.0" }), await sdist({ name: "other", version: "1.0" }));
    const job = await builder.lease(0);
    expect(job).toMatchObject({ project: "demo", version: "1.0" });
    jobId = job!.id;
    expect((await other.lease(0))?.project).toBe("other");
  });
  afterAll(() => setup?.server.stop());

  const result = (files: Artifact[], agent = () => builder) => () => agent().result(jobId, { status: "succeeded" }, files);

  test("a result for a job the agent does not hold, or one that makes no sense", async () => {
    const notHeld = (id: number) => `Job ${id} is not leased to this agent (it expired, was cancelled or finished): drop it`;
    const good = await wheel({ name: "demo", version: "1.0" });
    await expectRefused(setup.server, result([good], () => other), 409, notHeld(jobId));
    await expectRefused(setup.server, () => builder.result(999_999, { status: "succeeded" }, [good]), 404, "No job 999999");
    await expectRefused(setup.server, () => builder.result(jobId, { status: "succeeded" }, []), 400, "A succeeded build must upload at least one file");
    await expectRefused(setup.server, () => builder.result(jobId, { status: "done" }, [good]), 400, 'Unknown result status "done": use succeeded or failed');
    const form = new FormData();
    form.append("result", "{not json");
    const lease = { [LEASE_SECRET_HEADER]: builder.leases.get(jobId)!.leaseSecret };
    await expectRefused(setup.server, () => builder.send("POST", `/api/farm/jobs/${jobId}/result`, form, lease), 400, "The result field must be JSON: {status, reason, linked_libraries}");
    for (const shape of [null, [], "succeeded", { status: "failed", reason: { why: "x" } }, { status: "succeeded", linked_libraries: { "a.so": "libc.so.6" } }, { status: "succeeded", linked_libraries: [] }]) {
      const malformed = new FormData();
      malformed.append("result", JSON.stringify(shape));
      const message = "Malformed result: status and reason must be strings and linked_libraries map filenames to lists of strings";
      await expectRefused(setup.server, () => builder.send("POST", `/api/farm/jobs/${jobId}/result`, malformed, lease), 400, message);
    }
    await expectRefused(setup.server, () => builder.send("POST", `/api/farm/jobs/abc/log`, { lines: [] }), 400, 'Invalid job id "abc": job ids are whole numbers, as `pydepot jobs` lists them');
    await expectRefused(setup.server, () => builder.send("POST", `/api/farm/jobs/${jobId}/log`, { lines: "text" }), 400, "Send JSON {lines: [{at, stream, text}]}");
  });

  test("log lines whose time is no time (the log's budget counts text only): refused, nothing stored", async () => {
    const lease = { [LEASE_SECRET_HEADER]: builder.leases.get(jobId)!.leaseSecret };
    const message = "A log line's at must be an ISO 8601 time, as the agent sends it";
    for (const at of [new Date().toISOString() + "x".repeat(100_000), "yesterday", 1_700_000_000, { time: "now" }]) {
      await expectRefused(setup.server, () => builder.send("POST", `/api/farm/jobs/${jobId}/log`, { lines: [{ at, stream: "stdout", text: "a" }] }, lease), 400, message);
    }
  });

  test("a lease request whose wait is no number of seconds: refused at once, not a long poll that never ends", async () => {
    const invalid = (shown: string) => `Invalid wait_seconds ${shown}: send a number of seconds, 0 or more (at most 25 are waited)`;
    for (const wait of ["abc", "5", -1, null, { seconds: 1 }, [1]]) {
      await expectRefused(setup.server, () => builder.send("POST", "/api/farm/lease", { wait_seconds: wait }), 400, invalid(JSON.stringify(wait)));
    }
  });

  test("forged, missing, revoked or wrong kinds of credentials", async () => {
    const good = await wheel({ name: "demo", version: "1.0" });
    const unknownToken = "Unknown or revoked agent token: re-register the agent with an enrolment secret";
    const forged = new FakeAgent(url, "builder", "pydepot-agent-forged0000000000000000000000000000000");
    await expectRefused(setup.server, result([good], () => forged), 401, unknownToken);
    await expectRefused(setup.server, () => forged.leaseReply(0), 401, unknownToken);
    await expectRefused(setup.server, () => request(url, "/api/farm/lease", { body: {} }), 401, "This endpoint is for build agents: authenticate with the agent's token");
    // A user's API token is no agent token, and its owner hears how to send it instead.
    await expectRefused(setup.server, () => request(url, "/api/farm/lease", { body: {}, auth: bearer(setup.uploader) }), 401, "Bearer is for build agents' tokens: send an API token as Basic auth with the username __token__");
    await expectRefused(setup.server, () => request(url, "/api/farm/lease", { body: {}, auth: tokenAuth(setup.uploader) }), 401, "This endpoint is for build agents: authenticate with the agent's token");
    // And an agent token is no upload token: results go through the job.
    await expectRefused(setup.server, () => uploadFile(url, builder.token, good), 403, "Agent builder uploads build results through its job, not the upload API");

    // Revoked with the CLI: every request of that agent is refused from then on.
    const victim = await FakeAgent.register(url, setup.enrolment, "to-revoke", [TARGETS.wheel312]);
    expect(expectOk(await pydepot(["agents", "revoke", "to-revoke"], setup.server.storage)).stdout).toBe("agent to-revoke revoked\n");
    await expectRefused(setup.server, () => victim.leaseReply(0), 401, unknownToken);
    await expectRefused(setup.server, () => victim.send("PUT", "/api/farm/targets", { targets: [TARGETS.wheel311] }), 401, unknownToken);
    await expectRefused(
      setup.server,
      () => request(url, "/api/farm/register", { body: { name: "to-revoke", version: VERSION, enrolment_secret: setup.enrolment } }),
      403,
      /^Agent to-revoke was revoked at \S+: register under a new name\n?$/,
    );
  });

  test("registration with an unknown enrolment secret, a bad name, or an incompatible agent version", async () => {
    const register = (body: unknown, headers: Record<string, string> = {}) => () => request(url, "/api/farm/register", { body, headers });
    await expectRefused(
      setup.server,
      register({ name: "newcomer", version: VERSION, enrolment_secret: "pydepot-enrol-guessed" }),
      401,
      "Unknown or revoked enrolment secret: ask an admin for `pydepot agents enrol`",
    );
    await expectRefused(setup.server, register({ name: "../etc", version: VERSION, enrolment_secret: setup.enrolment }), 400, 'Invalid agent name "../etc": use up to 64 letters, digits, \'.\', \'_\' or \'-\'');
    await expectRefused(setup.server, register({ name: "newcomer" }), 400, "Send JSON with name, version and enrolment_secret");

    // The compatible range: the same major version (the same minor while 0.x), as semver's caret means.
    const [major, minor] = VERSION.split(".");
    const range = major === "0" ? `^0.${minor}.0` : `^${major}.0.0`;
    const incompatible = (version: string) => `Agent version ${version} is not compatible with server ${VERSION} (needs ${range}): upgrade the agent`;
    const nextMajor = `${Number(major) + 1}.0.0`;
    await expectRefused(setup.server, register({ name: "newcomer", version: "99.0.0", enrolment_secret: setup.enrolment }), 400, incompatible("99.0.0"));
    await expectRefused(setup.server, register({ name: "newcomer", version: nextMajor, enrolment_secret: setup.enrolment }), 400, incompatible(nextMajor));
    // A registered agent that was upgraded too far hears why on its next request.
    await expectRefused(setup.server, () => builder.send("POST", "/api/farm/lease", { wait_seconds: 0 }, { [AGENT_VERSION_HEADER]: "99.0.0" }), 400, incompatible("99.0.0"));
    await expectRefused(setup.server, () => builder.send("POST", "/api/farm/lease", { wait_seconds: 0 }, { [AGENT_VERSION_HEADER]: "latest" }), 400, incompatible("latest"));
  });

  test("malformed target reports", async () => {
    const report = (body: unknown) => () => builder.send("PUT", "/api/farm/targets", body);
    const { wheel_tags: _tags, ...withoutTags } = TARGETS.wheel311;
    const cases: [string, unknown, RegExp][] = [
      ["no targets field", {}, /^Malformed target report: .*expected array, received undefined/],
      ["targets not a list", { targets: TARGETS.wheel311 }, /^Malformed target report: .*expected array, received object/],
      ["an empty list", { targets: [] }, /^Malformed target report: .*expected array to have >=1 items/],
      ["a missing field", { targets: [withoutTags] }, /^Malformed target report: .*wheel_tags/],
      ["an unknown kind", { targets: [{ ...TARGETS.wheel311, kind: "exe" }] }, /^Malformed target report: .*kind/],
      ["an unknown field", { targets: [{ ...TARGETS.wheel311, compiler: "gcc" }] }, /^Malformed target report: .*compiler/],
      ["a malformed wheel tag", { targets: [{ ...TARGETS.wheel311, wheel_tags: ["not a tag"] }] }, /^Malformed target report: .*wheel_tags/],
      ["a bare major version", { targets: [{ ...TARGETS.wheel311, python_version: "3" }] }, /^Malformed target report: .*python_version/],
      // Each new key is a target every project is planned for: a version no CPython has makes one at will.
      ["an invented minor version", { targets: [{ ...TARGETS.wheel311, python_version: "3.1111111111111111111111.0" }] }, /^Malformed target report: .*python_version/],
      ["a 1,000-character wheel tag", { targets: [{ ...TARGETS.wheel311, wheel_tags: [`cp311-cp311-${"x".repeat(1000)}`] }] }, /^Malformed target report: .*wheel_tags/],
      ["shell characters in a platform", { targets: [{ ...TARGETS.wheel311, platform: "linux; rm -rf /" }] }, /^Malformed target report: .*platform/],
      ["a number for a string", { targets: [{ ...TARGETS.wheel311, os: 7 }] }, /^Malformed target report: .*os/],
      // Two interpreters of one Python X.Y (a pyenv and a system 3.11) build for one target: the server cannot say which one a job is for.
      ["one target twice", { targets: [TARGETS.wheel311, { ...TARGETS.wheel311, python_version: "3.11.2" }] }, /^Two reported targets are both wheel-cp311-linux_x86_64 \(Python 3\.11\.7 and 3\.11\.2\): report one interpreter for each target \(--python\)/],
      ["one egg target from two implementations", { targets: [TARGETS.egg27, { ...TARGETS.egg27, implementation: "pypy" }] }, /^Two reported targets are both egg-py2\.7-linux-x86_64 \(Python 2\.7\.18 and 2\.7\.18\)/],
    ];
    for (const [, body, message] of cases) await expectRefused(setup.server, report(body), 400, message);
    await expectRefused(setup.server, () => builder.send("PUT", "/api/farm/targets", "{not json"), 400, /^Bad request: /);
    // The agent still builds for what it reported before.
    expect(setup.server.services.stores.agents.targetsOf(setup.server.services.stores.agents.byName("builder")!.id)).toEqual([TARGET_KEYS.wheel311]);
  });

  test("after all that, the right result from the right agent is accepted", async () => {
    const built = await wheel({ name: "demo", version: "1.0" });
    const reply = await builder.result(jobId, { status: "succeeded" }, [built]);
    expect(reply.status, reply.body).toBe(200);
    const details = await showJob(url, jobId);
    expect(details.job).toMatchObject({ status: "succeeded", reason: `built ${built.filename}` });
    expect(details.files.map((file) => [file.filename, file.origin, file.uploader, file.jobId])).toEqual([[built.filename, "build", "agent:builder", jobId]]);
  });
});
