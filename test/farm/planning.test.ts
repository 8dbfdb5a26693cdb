// Jobs exist the moment an sdist is stored, for every target, with not_applicable ones and their
// reason: a team that looks right after uploading sees them, though no agent has asked for work.
// A target that registers later gets its jobs for the sdists stored before it from a pass in the
// background. The agents here register and report their targets, then never lease.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { sdist } from "../support/artifacts.js";
import { expectOk } from "../support/commands.js";
import { pydepot } from "../support/farm.js";
import { FakeAgent, listJobs, TARGETS, TARGET_KEYS, uploadFile, type JobRow } from "../support/farm-api.js";
import { startTestServer, type TestServer } from "../support/server.js";

const summary = (jobs: JobRow[]) => jobs.map((job) => [job.targetKey, job.status, job.reason]).sort((a, b) => a[0].localeCompare(b[0]));

describe("planning at once", () => {
  let server: TestServer;
  let uploader: string;

  beforeAll(async () => {
    server = await startTestServer();
    uploader = await server.userToken("uploader");
    const enrolment = server.services.agents.createEnrolment("test", "test");
    await FakeAgent.register(server.url, enrolment, "idle-egg", [TARGETS.egg27]);
    await FakeAgent.register(server.url, enrolment, "idle-wheel", [TARGETS.wheel311]);
  });

  afterAll(() => server?.stop());

  test("an upload answers with its jobs already there: queued, and not_applicable with the reason", async () => {
    const artifact = await sdist({ name: "planned-at-once", version: "1.0", requiresPython: ">=3.8" });
    const reply = await uploadFile(server.url, uploader, artifact);
    expect(reply.status).toBe(200);
    // Straight from the database, before anything else asks the server.
    const jobs = server.services.stores.jobs.list({ project: "planned-at-once" as never }, "all");
    expect(summary(jobs)).toEqual([
      [TARGET_KEYS.egg27, "not_applicable", `Requires-Python >=3.8 excludes Python ${TARGETS.egg27.python_version}`],
      [TARGET_KEYS.wheel311, "queued", ""],
    ]);
    expect(summary(await listJobs(server.url, { project: "planned-at-once" }))).toEqual(summary(jobs));
  });

  test("`pydepot import` in another process plans the jobs of the sdists it stores, and `pydepot jobs` shows them", async () => {
    const folder = mkdtempSync(join(tmpdir(), "pydepot-planning-"));
    try {
      const artifact = await sdist({ name: "imported-planned", version: "2.0" });
      writeFileSync(join(folder, artifact.filename), artifact.bytes);
      expectOk(await pydepot(["import", folder], server.storage));
      const jobs = server.services.stores.jobs.list({ project: "imported-planned" as never }, "all");
      expect(summary(jobs)).toEqual([
        [TARGET_KEYS.egg27, "queued", ""],
        [TARGET_KEYS.wheel311, "queued", ""],
      ]);
      const listed = JSON.parse(expectOk(await pydepot(["jobs", "--project", "imported-planned", "--json"], server.storage)).stdout) as JobRow[];
      expect(summary(listed)).toEqual(summary(jobs));
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  });
});

describe("a target that registers after the sdists", () => {
  let storage: string;
  let server: TestServer | undefined;

  beforeAll(() => {
    storage = mkdtempSync(join(tmpdir(), "pydepot-planning-late-"));
  });

  afterAll(async () => {
    await server?.stop();
    rmSync(storage, { recursive: true, force: true });
  });

  test("gets a job for every sdist stored before it, not_applicable with the reason too, once the background pass is done", async () => {
    server = await startTestServer({}, { storage });
    const uploader = await server.userToken("uploader");
    const modern = await sdist({ name: "stored-before", version: "1.0", requiresPython: ">=3.8" });
    const anyPython = await sdist({ name: "also-before", version: "1.0" });
    for (const artifact of [modern, anyPython]) expect((await uploadFile(server.url, uploader, artifact)).status).toBe(200);
    expect(await listJobs(server.url)).toEqual([]);
    await FakeAgent.register(server.url, server.services.agents.createEnrolment("test", "test"), "late-egg", [TARGETS.egg27]);
    await server.services.planning.idle();
    expect(summary(await listJobs(server.url, { project: "stored-before" }))).toEqual([
      [TARGET_KEYS.egg27, "not_applicable", `Requires-Python >=3.8 excludes Python ${TARGETS.egg27.python_version}`],
    ]);
    expect(summary(await listJobs(server.url, { project: "also-before" }))).toEqual([[TARGET_KEYS.egg27, "queued", ""]]);
  });

  test("a server stopped before its background pass ran plans the rest when it starts again", async () => {
    const first = server!;
    // As if the server stopped right after the registration: no chunk of the new target's pass runs.
    first.services.planning.stop();
    await FakeAgent.register(first.url, first.services.agents.createEnrolment("test", "test"), "late-wheel", [TARGETS.wheel311]);
    expect(summary(await listJobs(first.url, { project: "also-before" }))).toEqual([[TARGET_KEYS.egg27, "queued", ""]]);
    server = undefined;
    await first.stop();
    server = await startTestServer({}, { storage });
    await server.services.planning.idle();
    const jobs = await listJobs(server.url);
    expect(jobs.map((job) => [job.project, job.targetKey, job.status]).sort()).toEqual([
      ["also-before", TARGET_KEYS.egg27, "queued"],
      ["also-before", TARGET_KEYS.wheel311, "queued"],
      ["stored-before", TARGET_KEYS.egg27, "not_applicable"],
      ["stored-before", TARGET_KEYS.wheel311, "queued"],
    ]);
  });
});
