// Builds cannot touch what they do not own (issue 13), with a real server, real agents and real
// builds. A hostile upload plays the whole attack: it hunts for the agent's credentials, tries to
// lease and to answer another project's job with whatever it found, litters the shared temporary
// folders and System V IPC and leaves a daemonised sleeper; the victim's wheel must still be the
// agent's own build and nothing of the hostile build may survive it. Then an agent SIGKILLed during a build: its
// watchdog ends the build, the next start takes the job back at once (leases last ten minutes
// here, so only that can bring it back within the test's time) and cleans what a crash of both
// left behind, saying so.
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { basename, join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { cleanEnv, expectOk, runCommand } from "../support/commands.js";
import { Farm, FARM_TEST_TIMEOUT_MS, processesOf } from "../support/farm.js";
import { logText, waitFor, zipMember, type JobDetails } from "../support/farm-api.js";
import { buildSdist } from "../support/packages.js";
import { sharedPython, userIds } from "../support/unprivileged.js";

const VICTIM_WHEEL = "Demo_Pkg-13.0-py2.py3-none-any.whl";

interface HostileReport {
  uid: number;
  server: string;
  credentials: { kind: string; where: string[] }[];
  secrets: string[];
  victims: number[];
  attempts: { what: string; with: string; status: number; reason: string }[];
  written: string[];
  ipc: { shm: number; sem: number; msg: number };
  /** crontab's and at's exit status when they took its job, or why they could not run. */
  crontab: number | string;
  at: number | string;
}

/** The user's crontab as `crontab -l -u` shows it to root; empty when it has none. */
async function crontabOf(name: string): Promise<string> {
  const result = await runCommand(["crontab", "-l", "-u", name], { env: cleanEnv(), cwd: "/" });
  if (result.code !== 0) expect(result.stderr).toBe(`no crontab for ${name}\n`);
  return result.code === 0 ? result.stdout : "";
}

/** The at jobs of the user, as root's `atq` lists them (job, date, queue, user). */
async function atJobsOf(name: string): Promise<string[]> {
  const { stdout } = expectOk(await runCommand(["atq"], { env: cleanEnv(), cwd: "/" }));
  return stdout.split("\n").filter((line) => line.trim().split(/\s+/).at(-1) === name);
}

function hostileReport(details: JobDetails): HostileReport {
  const line = details.log.find((entry) => entry.text.includes("HOSTILE-REPORT "));
  if (!line) throw new Error(`no HOSTILE-REPORT in the log of job ${details.job.id}:\n${logText(details)}`);
  return JSON.parse(line.text.slice(line.text.indexOf("HOSTILE-REPORT ") + "HOSTILE-REPORT ".length));
}

/** The digest the server records as a built file's provenance: every stored log line, `at TAB stream TAB text`. */
function logDigest(details: JobDetails): string {
  const digest = createHash("sha256");
  for (const line of details.log) digest.update(`${line.at}\t${line.stream}\t${line.text}\n`);
  return digest.digest("hex");
}

async function provenanceOf(farm: Farm, filename: string) {
  const answer = await fetch(`${farm.url}/api/files/${encodeURIComponent(filename)}/checks`);
  expect(answer.status).toBe(200);
  return ((await answer.json()) as { provenance: unknown }).provenance;
}

/** System V IPC objects a user owns or created, as "kind id" (Linux's /proc/sysvipc tables). */
function ipcObjectsOf(uid: number): string[] {
  const found: string[] = [];
  for (const kind of ["shm", "sem", "msg"]) {
    const [header, ...rows] = readFileSync(`/proc/sysvipc/${kind}`, "utf8").trim().split("\n");
    const columns = header.trim().split(/\s+/);
    for (const row of rows) {
      const cells = row.trim().split(/\s+/);
      const value = (name: string) => Number(cells[columns.indexOf(name)]);
      if (value("uid") === uid || value("cuid") === uid) found.push(`${kind} ${cells[1]}`);
    }
  }
  return found;
}

async function sleepers(marker: string): Promise<string> {
  return (await runCommand(["pgrep", "-f", marker], { env: cleanEnv(), cwd: "/" })).stdout;
}

describe("a hostile upload attacks the farm during its own build", { timeout: FARM_TEST_TIMEOUT_MS }, () => {
  let farm: Farm;
  let user: string;

  beforeAll(async () => {
    farm = await Farm.start();
    user = (await farm.startAgent("guard", { pythons: [sharedPython("3.11")] })).buildUsers[0];
  });

  afterAll(() => farm?.stop());

  test("it finds no credential but its own read-only one, cannot lease or answer the victim's job, and nothing it left survives", async () => {
    const hostileSdist = await buildSdist("hostile-build");
    await farm.upload(hostileSdist);
    const hostileJob = await farm.waitForJob("the hostile build to be leased", "hostile-build", (job) => job.status === "leased");
    expect(hostileJob.agent).toBe("guard");
    // Another project's release, queued while the hostile build runs: the prize.
    const victimSdist = await buildSdist("demo-pkg", { version: "13.0" });
    await farm.uploadAs(farm.adminToken, victimSdist);
    // The one agent is busy, so nothing has planned its job yet: an admin's `pydepot build` does.
    expectOk(await farm.cli(["build", "demo-pkg", "13.0"]));
    const [hostileDone] = await farm.settled("hostile-build", 1);
    const [victimDone] = await farm.settled("demo-pkg", 1);
    const hostileLog = await farm.job(hostileDone.id);
    const report = hostileReport(hostileLog);

    // It ran as the slot's build user, and this farm's secrets were nowhere it could look: the
    // agent's token, the enrolment secret, the lease secrets. (Other farms on a shared test host
    // may show it theirs; the server refuses those too, below.)
    expect(report.uid).toBe(userIds(user).uid);
    const own = report.secrets.filter((secret) => secret.startsWith("pydepot-build-"));
    expect(own, JSON.stringify(report.credentials)).toHaveLength(1);
    expect(report.secrets).not.toContain(farm.agentToken("guard"));
    expect(report.secrets).not.toContain(farm.enrolmentSecret);
    const found = report.credentials.find((credential) => credential.kind === "build")!;
    expect(found.where.filter((place) => !place.startsWith("file:"))).toEqual([]);
    expect(report.victims).toEqual([victimDone.id]);
    // Its own credential reads the staging index, and opens nothing else.
    const buildRefusal = "A build credential reads the index only: the farm API is for the agent itself";
    const withBuild = report.attempts.filter((attempt) => attempt.with.startsWith("build("));
    expect(withBuild.map((attempt) => [attempt.what, attempt.status, attempt.reason]).sort()).toEqual(
      ["lease", "read staging", `log to job ${victimDone.id}`, `answer job ${victimDone.id}`].flatMap((what) => [0, 1].map(() => [what, ...(what === "read staging" ? [200, "OK"] : [403, buildRefusal])])).sort(),
    );
    // Nothing else it had (none, or another farm's secrets) got anything from the farm API.
    const others = report.attempts.filter((attempt) => !attempt.with.startsWith("build(") && attempt.what !== "read staging");
    expect(others.length).toBeGreaterThanOrEqual(6);
    expect(others.filter((attempt) => attempt.status !== 401)).toEqual([]);
    // The credential it read dies with its job.
    const [buildToken] = report.secrets;
    expect(buildToken).toMatch(/^pydepot-build-/);
    const afterwards = await fetch(`${farm.url}/staging/simple/`, { headers: { Authorization: `Bearer ${buildToken}` } });
    expect(afterwards.status).toBe(401);

    // The victim's wheel is the agent's build of the victim's sdist, recorded as such.
    expect(victimDone).toMatchObject({ status: "succeeded", agent: "guard", attempts: 1, reason: `built ${VICTIM_WHEEL}` });
    const victimLog = await farm.job(victimDone.id);
    expect(victimLog.events.map((event) => [event.status, event.agent])).toEqual([
      ["queued", null],
      ["queued", null], // the admin's `pydepot build`
      ["leased", "guard"],
      ["succeeded", "guard"],
    ]);
    expect(logText(victimLog)).not.toContain("hostile was here");
    expect(await farm.files("demo-pkg")).toEqual([basename(victimSdist), VICTIM_WHEEL].sort());
    expect(await provenanceOf(farm, VICTIM_WHEEL)).toEqual({
      jobId: victimDone.id,
      agent: "guard",
      attempt: 1,
      sdistSha256: createHash("sha256").update(readFileSync(victimSdist)).digest("hex"),
      logSha256: logDigest(victimLog),
    });
    const served = await farm.download("demo-pkg", VICTIM_WHEEL);
    const initModule = await zipMember(served, "demo_pkg/__init__.py");
    expect(initModule).toBeDefined();
    expect(initModule).not.toContain("pydepot-hostile");

    // Nothing the hostile build wrote, made or started survives it. The sweep right after its
    // result removes the user's files, then its IPC objects.
    expect(Object.values(report.ipc).every((id) => id >= 0), JSON.stringify(report.ipc)).toBe(true);
    await waitFor(`the IPC objects of ${user} to go`, async () => (ipcObjectsOf(userIds(user).uid).length === 0 ? true : undefined), {
      timeoutMs: 30_000,
      describe: () => ipcObjectsOf(userIds(user).uid).join(", "),
    });
    expect(report.written.length).toBeGreaterThanOrEqual(5);
    expect(report.written.some((file) => file.startsWith("/run/lock/"))).toBe(true);
    expect(report.written.filter(existsSync)).toEqual([]);
    expect(await sleepers("pydepot-hostile-sleeper")).toBe("");
    expect([report.crontab, report.at]).toEqual([0, 0]);
    expect(await crontabOf(user)).toBe("");
    expect(await atJobsOf(user)).toEqual([]);
    expect(processesOf(user)).toEqual([]);
    // The agent removes a build's folder right after its result is accepted.
    const workDir = farm.agents.get("guard")!.workDir;
    await waitFor("the agent to remove its build folders", async () => (readdirSync(workDir).length === 0 ? true : undefined), {
      timeoutMs: 30_000,
      describe: () => readdirSync(workDir).join(", "),
    });
  });
});

describe("an agent killed during a build", { timeout: FARM_TEST_TIMEOUT_MS }, () => {
  let farm: Farm;
  let jobId: number;
  let user: string;
  const eggs = { pythons: [sharedPython("2.7")] };
  const HANG_MARKER = "pydepot-build-hangs-sleeper";

  beforeAll(async () => {
    // Ten-minute leases: a job back within the test's time came back because its agent started again.
    farm = await Farm.start({ lease_seconds: 600 });
    user = (await farm.startAgent("crashy", eggs)).buildUsers[0];
  });

  afterAll(() => farm?.stop());

  const workFolders = () => readdirSync(farm.agents.get("crashy")!.workDir).filter((name) => name.startsWith("pydepot-build-"));

  /** build-hangs never ends by itself (setup.py and a child it started sleep for ever): whatever ends it is the farm. */
  async function leasedAgain(attempts: number) {
    const job = await farm.waitForJob(`build-hangs leased (attempt ${attempts})`, "build-hangs", (row) => row.status === "leased" && row.attempts === attempts);
    await waitFor(`attempt ${attempts} to start building`, async () => (processesOf(user).some((line) => line.includes(HANG_MARKER)) ? true : undefined));
    return job;
  }

  test("SIGKILL: its watchdog ends the build and removes its folder; started again, the agent takes the job back at once", async () => {
    await farm.upload(await buildSdist("build-hangs"));
    const job = await leasedAgain(1);
    jobId = job.id;
    expect(workFolders()).toHaveLength(1);
    await farm.killAgent("crashy");
    await waitFor(`the processes of ${user} to end`, async () => (processesOf(user).length === 0 ? true : undefined), { describe: () => processesOf(user).join("\n") });
    await waitFor("the killed agent's build folder to go", async () => (workFolders().length === 0 ? true : undefined));
    expect(await sleepers(HANG_MARKER)).toBe("");

    const restarted = await farm.startAgent("crashy", eggs);
    expect(restarted.output()).toContain(`returned the jobs a previous run held to the queue: #${job.id}`);
    expect((await leasedAgain(2)).id).toBe(job.id);
    expect((await farm.job(job.id)).events.map((event) => [event.status, event.agent, event.detail])).toEqual([
      ["queued", null, ""],
      ["leased", "crashy", ""],
      ["queued", "crashy", "agent started again: its lease returned to the queue"],
      ["leased", "crashy", ""],
    ]);
  });

  test("the agent and its watchdog killed together: the next start ends the build, removes its folder and says so", async () => {
    const watchdog = Number(readFileSync(join(farm.stateDir("crashy"), "watchdog.pid"), "utf8"));
    process.kill(watchdog, "SIGKILL");
    await farm.killAgent("crashy");
    // Nobody is left to clean: the build runs on, its folder stays.
    expect(processesOf(user).some((line) => line.includes(HANG_MARKER))).toBe(true);
    const [leftFolder] = workFolders();
    expect(leftFolder).toMatch(new RegExp(`^pydepot-build-${jobId}-`));

    const restarted = await farm.startAgent("crashy", eggs);
    // The folder is the build user's: it goes with the user's files (here, under /tmp) or as a build folder.
    expect(restarted.output()).toMatch(new RegExp(`cleaned up what a previous run left: [1-9]\\d* process\\(es\\), \\d+ cron or at job\\(s\\), \\d+ temporary file\\(s\\) and \\d+ IPC object\\(s\\) of ${user}`));
    expect(existsSync(join(farm.agents.get("crashy")!.workDir, leftFolder))).toBe(false);
    expect((await leasedAgain(3)).id).toBe(jobId);
  });
});
