// Faults with real processes: an agent SIGKILLed mid-build, the server SIGKILLed and started
// again on the same port mid-build, an admin cancelling a running build, and a build that never
// ends. The agents build eggs with Python 2.7 only (the quickest builds, and setup.py's output
// reaches the log as it happens); slow-build sleeps a few seconds first, so there is a "during".
// Leases last 3 s here, so a dead agent's job comes back quickly.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { cleanEnv, expectOk, runCommand } from "../support/commands.js";
import { Farm, FARM_TEST_TIMEOUT_MS } from "../support/farm.js";
import { FINAL_STATUSES, logText, waitFor } from "../support/farm-api.js";
import { buildSdist } from "../support/packages.js";
import { sharedPython } from "../support/unprivileged.js";

const EGG = "egg-py2.7-linux-x86_64";
const HANG_MARKER = "pydepot-build-hangs-sleeper";

describe("faults during real builds", { timeout: FARM_TEST_TIMEOUT_MS }, () => {
  let farm: Farm;
  let eggsOnly: { pythons: string[] };

  beforeAll(async () => {
    eggsOnly = { pythons: [sharedPython("2.7")] };
    farm = await Farm.start({ lease_seconds: 3 });
    await farm.startAgent("first", eggsOnly);
  });

  afterAll(() => farm?.stop());

  const finished = (project: string, version: string) =>
    farm.waitForJob(`the build of ${project} ${version} to end`, project, (job) => job.version === version && FINAL_STATUSES.includes(job.status));

  /** Uploads slow-build VERSION and waits until an agent is inside its build; returns the job. */
  async function slowBuildRunning(version: string) {
    await farm.upload(await buildSdist("slow-build", { version }));
    const job = await farm.waitForJob(`slow-build ${version} to be leased`, "slow-build", (row) => row.version === version && row.status === "leased");
    await farm.waitForLog(job.id, "slow-build: sleeping");
    return job;
  }

  test("an agent killed mid-build: its lease expires, another agent builds the job, once", async () => {
    const job = await slowBuildRunning("1.0");
    expect(job.agent).toBe("first");
    // Meanwhile the admin sees who builds what.
    const listed = expectOk(await farm.cli(["agents", "list"])).stdout;
    expect(listed).toMatch(new RegExp(`^first\tonline\t\\S+\tlast seen \\S+\tbuilding #${job.id}\t${EGG}$`, "m"));

    await farm.killAgent("first");
    // Its watchdog ends the orphaned build: nothing of it runs on as its build user.
    await waitFor("the killed agent's build to end", async () => (farm.buildProcesses("first").length === 0 ? true : undefined));
    await farm.startAgent("second", eggsOnly);

    const done = await finished("slow-build", "1.0");
    expect(done).toMatchObject({ id: job.id, status: "succeeded", reason: "built slow_build-1.0-py2.7.egg", attempts: 2, agent: "second" });
    const details = await farm.job(job.id);
    expect(details.events.map((event) => [event.status, event.agent, event.detail])).toEqual([
      ["queued", null, ""],
      ["leased", "first", ""],
      ["queued", null, "lease expired"],
      ["leased", "second", ""],
      ["succeeded", "second", "built slow_build-1.0-py2.7.egg"],
    ]);
    expect(details.files.map((file) => [file.filename, file.uploader])).toEqual([["slow_build-1.0-py2.7.egg", "agent:second"]]);
    expect(await farm.files("slow-build")).toEqual(["slow-build-1.0.tar.gz", "slow_build-1.0-py2.7.egg"]);
  });

  test("the server killed and started again during a build: the agent carries on and the job completes once", async () => {
    const job = await slowBuildRunning("2.0");
    expect(job.agent).toBe("second");
    // An admin follows the log from the CLI meanwhile (it reads the database, not the server).
    const following = farm.cli(["job", "show", "--follow", String(job.id)]);
    await farm.restartServer();

    const done = await finished("slow-build", "2.0");
    expect(done).toMatchObject({ id: job.id, status: "succeeded", reason: "built slow_build-2.0-py2.7.egg", attempts: 1, agent: "second" });
    const details = await farm.job(job.id);
    expect(details.events.map((event) => [event.status, event.agent])).toEqual([
      ["queued", null],
      ["leased", "second"],
      ["succeeded", "second"],
    ]);
    // The output of the whole build arrived, including what was printed while the server was down.
    const log = logText(details);
    expect(log).toContain("stdout: slow-build: awake, building");
    expect(log).toMatch(/creating '\S+\/slow_build-2\.0-py2\.7\.egg' and adding/);
    expect(await farm.files("slow-build")).toEqual(["slow-build-1.0.tar.gz", "slow-build-2.0.tar.gz", "slow_build-1.0-py2.7.egg", "slow_build-2.0-py2.7.egg"]);
    // Follow mode printed the log as it came and stopped when the job ended.
    const followed = expectOk(await following).stdout;
    expect(followed.split("\n")[0]).toBe(`#${job.id}\tleased\tslow-build 2.0\t${EGG}\tattempts 1\tsecond`);
    expect(followed).toMatch(/^\S+ stdout: slow-build: awake, building$/m);
  });

  test("the index gone when an egg build fetches its build requirement: the job fails, and its public log holds no agent token", async () => {
    await farm.upload(await buildSdist("sleepy-build-req"));
    const job = await farm.waitForJob("sleepy-build-req to be leased", "sleepy-build-req", (row) => row.status === "leased");
    await farm.waitForLog(job.id, "sleepy-build-req: sleeping");
    await farm.killServer();
    // The build goes on without the server, and ends when setuptools finds no index.
    await waitFor(`the build of job ${job.id} to end while the server is down`, async () => (farm.buildProcesses(job.agent!).length === 0 ? true : undefined), {
      describe: () => farm.agents.get(job.agent!)!.output(),
    });
    await farm.startServer();

    const done = await finished("sleepy-build-req", "1.0");
    expect(done).toMatchObject({ status: "failed", reason: "build exited with status 1", attempts: 1 });
    const log = logText(await farm.job(job.id));
    expect(log).toContain("stdout: sleepy-build-req: fetching buildhelper");
    // The build's credential is in its HOME (.pypirc), never in the URL setuptools prints.
    expect(log).toContain(`Download error on http://127.0.0.1:${farm.port}/staging/simple/buildhelper/`);
    expect(log).toContain("Could not find suitable distribution for Requirement.parse('buildhelper')");
    expect(log).not.toContain(farm.agentToken(job.agent!));
    expect(await farm.files("sleepy-build-req")).toEqual(["sleepy-build-req-1.0.tar.gz"]);
  });

  test("`pydepot job cancel` during a build: the agent stops the build and uploads nothing", async () => {
    // The agent killed earlier comes back with the token it keeps in its state folder.
    const token = farm.agentToken("first");
    await farm.startAgent("first", eggsOnly);
    expect(farm.agentToken("first")).toBe(token);

    const job = await slowBuildRunning("3.0");
    const builder = job.agent!;
    const cancelled = expectOk(await farm.cli(["job", "cancel", String(job.id)])).stdout;
    expect(cancelled).toBe(`#${job.id}\tcancelled\tslow-build 3.0\t${EGG}\tattempts 1\tcancelled by an admin\n`);

    const agent = farm.agents.get(builder)!;
    await waitFor(`agent ${builder} to drop job ${job.id}`, async () => (agent.output().includes(`job ${job.id}: dropped, the server took it back`) ? true : undefined), {
      describe: agent.output,
    });
    await waitFor(`the build processes of ${builder} to end`, async () => (farm.buildProcesses(builder).length === 0 ? true : undefined));
    const details = await farm.job(job.id);
    expect(details.job).toMatchObject({ status: "cancelled", reason: "cancelled by an admin" });
    expect(details.events.map((event) => event.status)).toEqual(["queued", "leased", "cancelled"]);
    expect(details.files).toEqual([]);
    expect((await farm.files("slow-build")).filter((file) => file.includes("3.0"))).toEqual(["slow-build-3.0.tar.gz"]);
    // Cancelled is final: it cannot be cancelled twice.
    const again = await farm.cli(["job", "cancel", String(job.id)]);
    expect({ code: again.code, stderr: again.stderr }).toEqual({ code: 1, stderr: `pydepot: Job ${job.id} is already cancelled\n` });
  });

  test("a build that hangs is killed at the time limit with its whole process group: failed, timed out", async () => {
    await farm.restartServer({ build_timeout_seconds: 5 });
    await farm.upload(await buildSdist("build-hangs"));
    const [job] = await farm.settled("build-hangs", 1);
    expect(job).toMatchObject({ targetKey: EGG, status: "failed", reason: "timed out after 5 s", attempts: 1 });
    const details = await farm.job(job.id);
    expect(logText(details)).toContain(`stdout: build-hangs: starting ${HANG_MARKER} and sleeping for ever`);
    expect(details.events.map((event) => [event.status, event.detail])).toEqual([
      ["queued", ""],
      ["leased", ""],
      ["failed", "timed out after 5 s"],
    ]);
    expect(await farm.files("build-hangs")).toEqual(["build-hangs-0.1.tar.gz"]);
    // setup.py and the child it started are gone: nothing sleeps on.
    const leftovers = await runCommand(["pgrep", "-f", HANG_MARKER], { env: cleanEnv(), cwd: farm.root });
    expect({ code: leftovers.code, pids: leftovers.stdout }).toEqual({ code: 1, pids: "" });
    for (const name of ["first", "second"]) expect(farm.buildProcesses(name), `build processes of ${name}`).toEqual([]);
  });
});
