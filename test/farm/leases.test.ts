// Leases belong to slots and to the process that took them (issue 13), over HTTP against an
// in-process server with anonymous reads off: the agent is played by the test. A lease's secret
// is needed for its log and result; an agent never holds more leases than its slots; an agent
// that starts again gets its old leases back in the queue at once; a build credential reads the
// index while its lease is held and does nothing else; a result refused at the door stores nothing.
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { sdist, wheel, type Artifact } from "../support/artifacts.js";
import { bearer, FakeAgent, LEASE_SECRET_HEADER, request, requestJson, TARGET_KEYS, TARGETS, tokenAuth, uploadFile, type JobDetails, type JobRow, type Reply } from "../support/farm-api.js";
import { startTestServer, type TestServer } from "../support/server.js";

let server: TestServer;
let uploader: string;
let admin: string;
let enrolment: string;

beforeAll(async () => {
  server = await startTestServer({ access: { anonymous_read: false } });
  uploader = await server.userToken("uploader");
  admin = await server.userToken("admin", { admin: true });
  enrolment = server.services.agents.createEnrolment("test", "test");
});
afterAll(() => server?.stop());

async function publish(...artifacts: Artifact[]): Promise<void> {
  for (const artifact of artifacts) {
    const reply = await uploadFile(server.url, uploader, artifact);
    if (reply.status !== 200) throw new Error(`upload of ${artifact.filename}: ${reply.status} ${reply.statusText}`);
  }
}

/** As the admin sees them (anonymous reads are off). */
const showJob = (jobId: number) => requestJson<JobDetails>(server.url, `/api/farm/jobs/${jobId}`, { auth: tokenAuth(admin) });
const jobsOf = async (project: string) => (await requestJson<{ jobs: JobRow[] }>(server.url, `/api/farm/jobs?project=${project}`, { auth: tokenAuth(admin) })).jobs;

/** The status and the message a client prints. */
const answer = (reply: Reply) => ({ status: reply.status, message: reply.statusText });
const stagedFiles = () => readdirSync(join(server.storage, "tmp"));

describe("lease secrets and slots", () => {
  test("log and result need the lease's own secret: the agent's token alone answers no job", async () => {
    const agent = await FakeAgent.register(server.url, enrolment, "secretive", [TARGETS.egg27]);
    await publish(await sdist({ name: "guarded", version: "1.0" }));
    const job = (await agent.lease(0))!;
    expect(job.leaseSecret).toMatch(/^pydepot-lease-/);
    const built = await wheel({ name: "guarded", version: "1.0" });
    const missing = `Job ${job.id} needs its lease secret (X-Pydepot-Lease-Secret): only the agent process that leased it may report on it`;
    const wrong = `Wrong lease secret for job ${job.id}: only the agent process that leased it may report on it`;
    expect(answer(await agent.log(job.id, ["hello"], null))).toEqual({ status: 403, message: missing });
    expect(answer(await agent.log(job.id, ["hello"], "pydepot-lease-guessed"))).toEqual({ status: 403, message: wrong });
    expect(answer(await agent.result(job.id, { status: "succeeded" }, [built], null))).toEqual({ status: 403, message: missing });
    expect(answer(await agent.result(job.id, { status: "failed" }, [], job.buildToken))).toEqual({ status: 403, message: wrong });
    expect(stagedFiles()).toEqual([]);
    expect((await showJob(job.id)).job).toMatchObject({ status: "leased", agent: "secretive" });
    // With it, the log and the result are the agent's.
    expect((await agent.log(job.id, ["hello"])).status).toBe(200);
    expect((await agent.result(job.id, { status: "failed", reason: "no compiler" })).status).toBe(200);
  });

  test("an agent holds at most as many leases as it declared slots", async () => {
    const agent = await FakeAgent.register(server.url, enrolment, "two-slots", [TARGETS.wheel312], 2);
    await publish(...(await Promise.all(["slot-a", "slot-b", "slot-c"].map((name) => sdist({ name, version: "1.0" })))));
    const first = await agent.lease(0);
    const second = await agent.lease(0);
    expect([first, second].every((job) => job !== null)).toBe(true);
    expect(await agent.lease(0)).toBeNull();
    const queued = async () => (await Promise.all(["slot-a", "slot-b", "slot-c"].map(jobsOf))).flat().filter((job) => job.status === "queued");
    expect((await queued()).length).toBeGreaterThan(0);
    // A slot frees up when its job ends.
    expect((await agent.result(first!.id, { status: "failed", reason: "broken" })).status).toBe(200);
    expect(await agent.lease(0)).not.toBeNull();
    expect(await agent.lease(0)).toBeNull();
    const refused = await agent.startSession([TARGETS.wheel312], 0);
    expect(answer(refused)).toEqual({ status: 400, message: "Invalid slots 0: send how many builds the agent runs at once, 1 to 64" });
  });

  test("an agent that starts again gets its leases back in the queue at once, and their old secrets die", async () => {
    const agent = await FakeAgent.register(server.url, enrolment, "phoenix", [TARGETS.egg27]);
    await publish(await sdist({ name: "reborn", version: "1.0" }));
    const job = (await agent.lease(0))!;
    // The process dies; the next one of the same agent starts a session.
    expect(JSON.parse((await agent.startSession([TARGETS.egg27], 1)).body)).toEqual({ targets: [TARGET_KEYS.egg27], returned: [job.id], failed: [] });
    const requeued = (await showJob(job.id)).events.map((event) => [event.status, event.agent, event.detail]);
    expect(requeued.at(-1)).toEqual(["queued", "phoenix", "agent started again: its lease returned to the queue"]);
    expect((await agent.log(job.id, ["from the dead"])).status).toBe(409);
    const again = (await agent.lease(0))!;
    expect(again).toMatchObject({ id: job.id });
    expect(again.leaseSecret).not.toBe(job.leaseSecret);
    expect(answer(await agent.log(job.id, ["late"], job.leaseSecret))).toEqual({ status: 403, message: `Wrong lease secret for job ${job.id}: only the agent process that leased it may report on it` });
  });

  test("a job whose agent starts again mid-build uses an attempt: out of attempts it fails saying so, and is not leased again", async () => {
    const agent = await FakeAgent.register(server.url, enrolment, "crasher", [TARGETS.egg27]);
    await publish(await sdist({ name: "agent-killer", version: "1.0" }));
    const planned = (await jobsOf("agent-killer")).find((job) => job.targetKey === TARGET_KEYS.egg27)!;
    // farm.max_attempts is 3: the build crashes its agent in each, and the agent starts again.
    for (const attempt of [1, 2, 3]) {
      // Earlier tests left jobs in the queue: answer them until this test's own comes.
      let job = (await agent.lease(0))!;
      while (job.id !== planned.id) {
        expect((await agent.result(job.id, { status: "failed", reason: "not this test's job" })).status).toBe(200);
        job = (await agent.lease(0))!;
      }
      const session = JSON.parse((await agent.startSession([TARGETS.egg27], 1)).body);
      expect(session, `attempt ${attempt}`).toEqual({ targets: [TARGET_KEYS.egg27], ...(attempt < 3 ? { returned: [job.id], failed: [] } : { returned: [], failed: [job.id] }) });
    }
    const reason = "its agent started again during attempt 3 of 3 (the agent crashed or was stopped mid-build): not leased again";
    const details = await showJob(planned.id);
    expect(details.job).toMatchObject({ status: "failed", reason, attempts: 3, agent: null });
    expect(details.events.map((event) => [event.status, event.agent, event.detail]).at(-1)).toEqual(["failed", "crasher", reason]);
    expect(await agent.lease(0)).toBeNull();
  });
});

describe("a build's credential", () => {
  test("reads the staging index and downloads while its lease is held, can never lease, log, report or upload, and dies with the job", async () => {
    const agent = await FakeAgent.register(server.url, enrolment, "builder", [TARGETS.wheel311]);
    await publish(await sdist({ name: "victim", version: "1.0" }), await sdist({ name: "scoped", version: "1.0" }));
    const job = (await agent.lease(0))!;
    const other = await FakeAgent.register(server.url, enrolment, "bystander", [TARGETS.wheel311]);
    const victimJob = (await other.lease(0))!;
    const token = job.buildToken;
    expect(token).toMatch(/^pydepot-build-/);
    for (const auth of [tokenAuth(token), bearer(token)]) {
      expect((await request(server.url, "/staging/simple/", { auth })).status).toBe(200);
      expect((await request(server.url, `/staging/simple/${job.project}/`, { auth })).status).toBe(200);
      expect((await request(server.url, `/files/${job.project}/${job.sdist.filename}`, { auth })).status).toBe(200);
      const refusal = { status: 403, message: "A build credential reads the index only: the farm API is for the agent itself" };
      expect(answer(await request(server.url, "/api/farm/lease", { auth, body: { wait_seconds: 0 } }))).toEqual(refusal);
      expect(answer(await request(server.url, "/api/farm/targets", { method: "PUT", auth, body: { targets: [TARGETS.wheel311] } }))).toEqual(refusal);
      expect(answer(await request(server.url, `/api/farm/jobs/${victimJob.id}/log`, { auth, body: { lines: [] } }))).toEqual(refusal);
      const form = new FormData();
      form.append("result", JSON.stringify({ status: "succeeded" }));
      form.append("files", new Blob([new Uint8Array((await wheel({ name: "victim", version: "1.0" })).bytes)]), "victim-1.0-py3-none-any.whl");
      expect(answer(await request(server.url, `/api/farm/jobs/${victimJob.id}/result`, { auth, body: form }))).toEqual(refusal);
      const upload = await uploadFile(server.url, token, await wheel({ name: "scoped", version: "1.0" }));
      expect(answer(upload)).toEqual({ status: 403, message: "A build credential reads the index only" });
      expect((await request(server.url, "/api/farm/agents", { auth })).status).toBe(403);
    }
    expect(stagedFiles()).toEqual([]);
    // The job ends (here: its result): the credential is worthless, even for reading.
    expect((await agent.result(job.id, { status: "failed", reason: "done" })).status).toBe(200);
    const dead = await request(server.url, "/staging/simple/", { auth: tokenAuth(token) });
    expect(answer(dead)).toEqual({ status: 401, message: "Unknown or expired build credential: it is valid only while its build job runs" });
    // Cancelling a job kills its credential too.
    expect((await request(server.url, "/staging/simple/", { auth: tokenAuth(victimJob.buildToken) })).status).toBe(200);
    expect((await request(server.url, `/api/farm/jobs/${victimJob.id}/cancel`, { method: "POST", auth: tokenAuth(admin) })).status).toBe(200);
    expect((await request(server.url, "/staging/simple/", { auth: tokenAuth(victimJob.buildToken) })).status).toBe(401);
  });
});

describe("a build's credential reads no further than the sdist's uploader", () => {
  test("another owner's private project is as unknown to the build as to its uploader", async () => {
    const agent = await FakeAgent.register(server.url, enrolment, "reader", [TARGETS.wheel311]);
    await publish(await sdist({ name: "mine", version: "1.0" }));
    // Earlier tests left jobs in the queue: answer them until this test's own comes.
    let job = (await agent.lease(0))!;
    while (job.project !== "mine") {
      expect((await agent.result(job.id, { status: "failed", reason: "not this test's job" })).status).toBe(200);
      job = (await agent.lease(0))!;
    }
    const secret = await sdist({ name: "private-lib", version: "1.0" });
    expect((await uploadFile(server.url, admin, secret)).status).toBe(200);
    const auth = tokenAuth(job.buildToken);
    expect((await request(server.url, "/staging/simple/mine/", { auth })).status).toBe(200);
    expect((await request(server.url, "/staging/simple/private-lib/", { auth })).status).toBe(404);
    expect((await request(server.url, `/files/private-lib/${secret.filename}`, { auth })).status).toBe(404);
    // The agent reads everything: its root page, cached first, must not reach the build.
    expect((await request(server.url, "/staging/simple/", { auth: bearer(agent.token) })).body).toContain("private-lib");
    expect((await request(server.url, "/staging/simple/", { auth })).body).not.toContain("private-lib");
    // The uploader given a role on it: the build reads it too (build requirements, say).
    server.services.accounts.grant("uploader", "private-lib", "view", "test");
    expect((await request(server.url, "/staging/simple/private-lib/", { auth })).status).toBe(200);
    expect((await agent.result(job.id, { status: "failed", reason: "done" })).status).toBe(200);
  });
});

describe("a result refused at the door", () => {
  test("no credentials, another agent's token, or no lease secret: refused before a byte is stored", async () => {
    const holder = await FakeAgent.register(server.url, enrolment, "holder", [TARGETS.egg27]);
    const thief = await FakeAgent.register(server.url, enrolment, "thief", [TARGETS.egg27]);
    await publish(await sdist({ name: "door", version: "1.0" }));
    const job = (await holder.lease(0))!;
    const big = { filename: "door-1.0-py2.7.egg", bytes: Buffer.alloc(8 * 1024 * 1024, 7) };
    const form = () => {
      const body = new FormData();
      body.append("result", JSON.stringify({ status: "succeeded" }));
      body.append("files", new Blob([new Uint8Array(big.bytes)]), big.filename);
      return body;
    };
    const anonymous = await request(server.url, `/api/farm/jobs/${job.id}/result`, { body: form() });
    expect(answer(anonymous)).toEqual({ status: 401, message: "This endpoint is for build agents: authenticate with the agent's token" });
    expect(answer(await thief.result(job.id, { status: "succeeded" }, [big], holder.leases.get(job.id)!.leaseSecret))).toEqual({
      status: 409,
      message: `Job ${job.id} is not leased to this agent (it expired, was cancelled or finished): drop it`,
    });
    expect(answer(await holder.result(job.id, { status: "succeeded" }, [big], null))).toMatchObject({ status: 403 });
    expect(stagedFiles()).toEqual([]);
    expect((await request(server.url, `/api/farm/jobs/${job.id}/result`, { auth: bearer(holder.token), headers: { [LEASE_SECRET_HEADER]: "x" }, body: form() })).status).toBe(403);
    expect(stagedFiles()).toEqual([]);
  });
});

describe("a build's credential when its lease expires (lease 1 s)", () => {
  let quick: TestServer;

  beforeAll(async () => {
    quick = await startTestServer({ farm: { lease_seconds: 1 } });
  });
  afterAll(() => quick?.stop());

  test("the agent goes silent, its lease expires: the credential dies with it", async () => {
    const secretOfQuick = quick.services.agents.createEnrolment("quick", "test");
    const silent = await FakeAgent.register(quick.url, secretOfQuick, "silent", [TARGETS.egg27]);
    const other = await FakeAgent.register(quick.url, secretOfQuick, "other", [TARGETS.egg27]);
    const reply = await uploadFile(quick.url, await quick.userToken("someone"), await sdist({ name: "expiring", version: "1.0" }));
    expect(reply.status).toBe(200);
    const job = (await silent.lease(0))!;
    expect((await request(quick.url, "/staging/simple/", { auth: tokenAuth(job.buildToken) })).status).toBe(200);
    // The other agent's long poll sees the lease expire and takes the job.
    expect((await other.lease(10))?.id).toBe(job.id);
    expect((await request(quick.url, "/staging/simple/", { auth: tokenAuth(job.buildToken) })).status).toBe(401);
  });
});


describe("leases across a server restart (lease 3 s)", () => {
  let storage: string;
  let restarted: TestServer | undefined;

  beforeAll(() => {
    storage = mkdtempSync(join(tmpdir(), "pydepot-leases-restart-"));
  });
  afterAll(async () => {
    await restarted?.stop();
    rmSync(storage, { recursive: true, force: true });
  });

  test("a server down for longer than a lease costs no build under way: the lease is the agent's again, not another's", async () => {
    const first = await startTestServer({ farm: { lease_seconds: 3 } }, { storage });
    const enrolled = first.services.agents.createEnrolment("restart", "test");
    const building = await FakeAgent.register(first.url, enrolled, "building", [TARGETS.egg27]);
    const idle = await FakeAgent.register(first.url, enrolled, "idle", [TARGETS.egg27]);
    expect((await uploadFile(first.url, await first.userToken("someone"), await sdist({ name: "restarted", version: "1.0" }))).status).toBe(200);
    const job = (await building.lease(0))!;
    await first.stop();
    // Down for longer than the lease: the agent's heartbeats went unheard.
    await new Promise((resolve) => setTimeout(resolve, 3_500));

    restarted = await startTestServer({ farm: { lease_seconds: 3 } }, { storage });
    const [self, other] = [new FakeAgent(restarted.url, "building", building.token), new FakeAgent(restarted.url, "idle", idle.token)];
    self.leases.set(job.id, building.leases.get(job.id)!);
    expect(await other.lease(0)).toBeNull();
    expect((await self.log(job.id, ["still building"])).status).toBe(200);
    expect((await request(restarted.url, "/staging/simple/", { auth: tokenAuth(job.buildToken) })).status).toBe(200);
  });
});
