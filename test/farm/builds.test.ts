// Real builds that succeed: `pydepot serve`, one `pydepot agent` building with Python 2.7 (eggs),
// 3.11 and 3.12 (wheels; 3.12 comes without setuptools), an index seeded by `pydepot import`
// with setuptools and wheel, and sdists made from test/fixtures uploaded with twine. The agent
// reaches the server through a request log, so a test can also see which files its pip fetched.
// Everything is uploaded at once; the agent works through the queue while the tests look at
// one release after another, as a user would: jobs and logs in the JSON API, files on
// /simple/, the CLI, and pip installing what was built.
import { tmpdir } from "node:os";
import { basename, dirname } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { easyInstall, makeEnvironment, pipInstall } from "../support/clients.js";
import { cleanEnv, expectOk, runCommand } from "../support/commands.js";
import { Farm, FARM_TEST_TIMEOUT_MS } from "../support/farm.js";
import { logText, zipMember, type JobRow } from "../support/farm-api.js";
import { buildSdist } from "../support/packages.js";
import { sharedPython } from "../support/unprivileged.js";
import { startRequestLog, type RequestLog } from "../support/request-log.js";
import { VERSION } from "../../src/version.js";

const EGG = "egg-py2.7-linux-x86_64";
const CP311 = "wheel-cp311-linux_x86_64";
const CP312 = "wheel-cp312-linux_x86_64";

describe("real builds on Python 2.7, 3.11 and 3.12", { timeout: FARM_TEST_TIMEOUT_MS }, () => {
  let farm: Farm;
  let requests: RequestLog;

  beforeAll(async () => {
    farm = await Farm.start();
    requests = await startRequestLog(farm.url);
    await farm.startAgent("builder", { server: new URL(requests.index).origin });
    // buildhelper first: needs-build-req can only be built with it.
    const sdists = await Promise.all((["demo-pkg", "natmod", "buildhelper", "needs-build-req"] as const).map((fixture) => buildSdist(fixture)));
    await farm.upload(...sdists);
  });

  afterAll(async () => {
    await requests?.stop();
    await farm?.stop();
  });

  const summary = (jobs: JobRow[]) => jobs.map((job) => [job.targetKey, job.status, job.reason]);

  test("a pure sdist gives one egg for 2.7 and one py2.py3 wheel, built once and reused by 3.11 and 3.12", async () => {
    const jobs = await farm.settled("demo-pkg", 3);
    const [egg, ...wheelJobs] = jobs;
    expect(summary([egg])).toEqual([[EGG, "succeeded", "built Demo_Pkg-1.0-py2.7.egg"]]);
    // Whichever wheel target came first built the wheel; the other was marked as served by it.
    expect(wheelJobs.map((job) => job.reason).sort()).toEqual(["built Demo_Pkg-1.0-py2.py3-none-any.whl", "covered by Demo_Pkg-1.0-py2.py3-none-any.whl"]);
    expect(wheelJobs.every((job) => job.status === "succeeded")).toBe(true);
    const built = wheelJobs.find((job) => job.reason.startsWith("built"))!;
    const covered = wheelJobs.find((job) => job.reason.startsWith("covered"))!;
    expect(await farm.files("demo-pkg")).toEqual(["Demo_Pkg-1.0-py2.7.egg", "Demo_Pkg-1.0-py2.py3-none-any.whl", "Demo_Pkg-1.0.tar.gz"].sort());

    // The built wheel is linked to its job, agent and sdist; the covered job never ran.
    const builtDetails = await farm.job(built.id);
    expect(builtDetails.files.map((file) => [file.filename, file.origin, file.uploader, file.jobId, file.degraded])).toEqual([
      ["Demo_Pkg-1.0-py2.py3-none-any.whl", "build", "agent:builder", built.id, false],
    ]);
    expect(builtDetails.job).toMatchObject({ sdistFilename: "Demo_Pkg-1.0.tar.gz", agent: "builder", attempts: 1 });
    expect(builtDetails.events.map((event) => [event.status, event.agent])).toEqual([
      ["queued", null],
      ["leased", "builder"],
      ["succeeded", "builder"],
    ]);
    const coveredDetails = await farm.job(covered.id);
    expect({ attempts: coveredDetails.job.attempts, log: coveredDetails.log, files: coveredDetails.files }).toEqual({ attempts: 0, log: [], files: [] });
    expect(coveredDetails.events.map((event) => [event.status, event.detail])).toEqual([
      ["queued", ""],
      ["succeeded", "covered by Demo_Pkg-1.0-py2.py3-none-any.whl"],
    ]);
  });

  test("a C extension gives a platform egg for 2.7 and a wheel per Python 3, each with its native modules recorded", async () => {
    const jobs = await farm.settled("natmod", 3);
    expect(summary(jobs)).toEqual([
      [EGG, "succeeded", "built natmod-0.1-py2.7-linux-x86_64.egg"],
      [CP311, "succeeded", "built natmod-0.1-cp311-cp311-linux_x86_64.whl"],
      [CP312, "succeeded", "built natmod-0.1-cp312-cp312-linux_x86_64.whl"],
    ]);
    const files = [];
    for (const job of jobs) {
      const details = await farm.job(job.id);
      expect(details.files, `files of job ${job.id}`).toHaveLength(1);
      files.push(details.files[0]);
    }
    expect(files.map((file) => [file.filename, file.jobId, file.origin, file.nativeModules, file.degraded])).toEqual([
      ["natmod-0.1-py2.7-linux-x86_64.egg", jobs[0].id, "build", ["natmod/_speed.so"], false],
      ["natmod-0.1-cp311-cp311-linux_x86_64.whl", jobs[1].id, "build", ["natmod/_speed.cpython-311-x86_64-linux-gnu.so"], false],
      ["natmod-0.1-cp312-cp312-linux_x86_64.whl", jobs[2].id, "build", ["natmod/_speed.cpython-312-x86_64-linux-gnu.so"], false],
    ]);
    // What `ldd` saw: the 2.7 module links libpython (the 3.x ones link nothing at all).
    expect(files[0].linkedLibraries).toContainEqual(expect.stringMatching(/^libpython2\.7\.so\.1\.0 => \/\S+$/));
    expect(await farm.files("natmod")).toEqual([
      "natmod-0.1-cp311-cp311-linux_x86_64.whl",
      "natmod-0.1-cp312-cp312-linux_x86_64.whl",
      "natmod-0.1-py2.7-linux-x86_64.egg",
      "natmod-0.1.tar.gz",
    ]);
    // The build log says what the agent found, and does not contradict the API.
    const wheelLog = logText(await farm.job(jobs[1].id));
    expect(wheelLog).toContain("Successfully built natmod");
    expect(wheelLog).not.toContain("no native modules");
  });

  test("pip on Python 3.11 installs the built wheel from /simple/ and its C extension imports", async () => {
    await farm.settled("natmod", 3);
    const environment = await makeEnvironment("3.11");
    try {
      const install = expectOk(await pipInstall(environment, farm.index, ["--only-binary", ":all:", "natmod==0.1"]));
      expect(install.stdout).toContain("natmod-0.1-cp311-cp311-linux_x86_64.whl");
      const run = expectOk(await environment.run("import natmod._speed; print(natmod._speed.add(2, 3)); print(natmod._speed.__file__)"));
      expect(run.stdout).toMatch(/^5\n\S+\/natmod\/_speed\.cpython-311-x86_64-linux-gnu\.so\n$/);
    } finally {
      await environment.cleanup();
    }
  });

  test("easy_install on Python 2.7 installs the built egg from /simple/ and its C extension imports", async () => {
    await farm.settled("natmod", 3);
    const environment = await makeEnvironment("2.7");
    try {
      const install = expectOk(await easyInstall(farm.index, "natmod==0.1", environment.installDir));
      expect(install.stdout).toContain("natmod-0.1-py2.7-linux-x86_64.egg");
      const run = expectOk(await environment.run("import natmod._speed; print(natmod._speed.add(2, 3))"));
      expect(run.stdout).toBe("5\n");
    } finally {
      await environment.cleanup();
    }
  });

  test("Python 3.12, which has no setuptools, builds in isolation with setuptools and wheel from this index only", async () => {
    const python312 = sharedPython("3.12");
    const withoutSetuptools = await runCommand([python312, "-c", "import setuptools"], { env: cleanEnv(), cwd: tmpdir() });
    expect(withoutSetuptools.code, "precondition: Python 3.12 comes without setuptools").not.toBe(0);

    const job = (await farm.settled("natmod", 3)).find((row) => row.targetKey === CP312)!;
    const log = logText(await farm.job(job.id));
    const index = new URL(requests.index);
    // No credential in the URL: the build's own read-only one sits in its HOME (.netrc).
    expect(log).toContain(`Looking in indexes: http://${index.host}/staging/simple/`);
    expect(log).toContain("Installing build dependencies: finished with status 'done'");
    const hosts = new Set([...log.matchAll(/\b[a-z][a-z0-9+.-]*:\/\/(?:[^@\s/]*@)?([^/\s?#]+)/gi)].map((match) => match[1]));
    expect([...hosts]).toEqual([index.host]);

    // And the index saw that pip fetch both build requirements from it.
    const pythonVersion = basename(dirname(dirname(python312)));
    const fetched = requests
      .from("pip/")
      .filter((request) => request.userAgent.includes(`"python":"${pythonVersion}"`))
      .map((request) => `${request.status} ${request.path}`);
    expect(fetched).toEqual(
      expect.arrayContaining([
        "200 /staging/simple/setuptools/",
        "200 /files/setuptools/setuptools-67.6.1-py3-none-any.whl",
        "200 /staging/simple/wheel/",
        "200 /files/wheel/wheel-0.38.4-py3-none-any.whl",
      ]),
    );
  });

  test("a build requirement that only the index has is fetched from it, for the egg and for the wheel", async () => {
    const jobs = await farm.settled("needs-build-req", 3);
    const [egg, ...wheelJobs] = jobs;
    expect(summary([egg])).toEqual([[EGG, "succeeded", "built needs_build_req-1.0-py2.7.egg"]]);
    expect(wheelJobs.map((job) => [job.status, job.reason.replace(/^(built|covered by) /, "")])).toEqual([
      ["succeeded", "needs_build_req-1.0-py2.py3-none-any.whl"],
      ["succeeded", "needs_build_req-1.0-py2.py3-none-any.whl"],
    ]);
    // setuptools' own fetcher (setup_requires) got it from this index, and the build imported it.
    // Jobs are planned at upload, so buildhelper's py2.py3 wheel may exist by then: setuptools
    // installs a wheel into .eggs without printing "Installed", hence the request log below.
    const eggLog = logText(await farm.job(egg.id));
    expect(eggLog).toMatch(/^stdout: needs-build-req: built with buildhelper 1\.0 from \S+\/\.eggs\/buildhelper-1\.0-py2\.7\.egg\//m);
    const fetchedBy = (client: string) => requests.from(client).map((request) => `${request.status} ${request.path}`);
    expect(fetchedBy("setuptools/")).toContain("200 /staging/simple/buildhelper/");
    expect(fetchedBy("setuptools/")).toContainEqual(expect.stringMatching(/^200 \/files\/buildhelper\/buildhelper-1\.0(-py2\.7\.egg|-py2\.py3-none-any\.whl|\.tar\.gz)$/));
    // pip installed it into the isolated build environment of the wheel, from this index too.
    expect(fetchedBy("pip/")).toContain("200 /staging/simple/buildhelper/");
    expect(fetchedBy("pip/")).toContainEqual(expect.stringMatching(/^200 \/files\/buildhelper\/buildhelper-1\.0(-py2\.py3-none-any\.whl|\.tar\.gz)$/));
    // Each built file carries what its build found.
    for (const filename of ["needs_build_req-1.0-py2.7.egg", "needs_build_req-1.0-py2.py3-none-any.whl"]) {
      const builtWith = await zipMember(await farm.download("needs-build-req", filename), "needs_build_req/_built_with.py");
      expect(builtWith, filename).toBe("BUILT_WITH = 'buildhelper 1.0'\n");
    }
    expect(await farm.files("needs-build-req")).toEqual(["needs-build-req-1.0.tar.gz", "needs_build_req-1.0-py2.7.egg", "needs_build_req-1.0-py2.py3-none-any.whl"].sort());
  });

  test("build logs, which every index reader may read, never show the agent's token", async () => {
    await farm.settled("buildhelper", 3);
    await farm.settled("needs-build-req", 3);
    const token = farm.agentToken("builder");
    const jobs = await farm.jobs();
    expect(jobs.length).toBeGreaterThanOrEqual(12);
    for (const job of jobs) expect(logText(await farm.job(job.id)), `log of job ${job.id}`).not.toContain(token);
  });

  test("`pydepot agents list` shows the agent online with its three targets", async () => {
    const text = expectOk(await farm.cli(["agents", "list"])).stdout;
    const line = text.split("\n").find((row) => row.startsWith("builder\t"));
    expect(line, text).toMatch(new RegExp(`^builder\tonline\tv${VERSION.replace(/\./g, "\\.")}\tlast seen \\S+\t(idle|building #\\d+)\t`));
    expect(line!.split("\t").at(-1)!.split(" ").sort()).toEqual([EGG, CP311, CP312]);
  });

  test("`pydepot build PROJECT VERSION --target T` queues a build again: the agent rebuilds it, nothing is duplicated", async () => {
    const [eggJob] = await farm.settled("natmod", 3);
    const queued = expectOk(await farm.cli(["build", "natmod", "0.1", "--target", EGG])).stdout;
    expect(queued).toBe(`#${eggJob.id}\tqueued\tnatmod 0.1\t${EGG}\tattempts 0\tqueued again by an admin\n`);
    const rebuilt = await farm.waitForJob("the re-queued egg build to finish", "natmod", (job) => job.id === eggJob.id && job.status !== "queued" && job.status !== "leased");
    expect(rebuilt).toMatchObject({ status: "succeeded", reason: "already built: natmod-0.1-py2.7-linux-x86_64.egg", attempts: 1, agent: "builder" });
    const details = await farm.job(eggJob.id);
    expect(details.events.map((event) => [event.status, event.agent, event.detail])).toEqual([
      ["queued", null, ""],
      ["leased", "builder", ""],
      ["succeeded", "builder", "built natmod-0.1-py2.7-linux-x86_64.egg"],
      ["queued", null, "queued again by an admin"],
      ["leased", "builder", ""],
      ["succeeded", "builder", "already built: natmod-0.1-py2.7-linux-x86_64.egg"],
    ]);
    expect(details.files.map((file) => file.filename)).toEqual(["natmod-0.1-py2.7-linux-x86_64.egg"]);
    expect(await farm.files("natmod")).toHaveLength(4);
    // The other targets were left alone.
    const others = (await farm.jobs({ project: "natmod" })).filter((job) => job.targetKey !== EGG);
    expect(others.map((job) => [job.status, job.attempts])).toEqual([
      ["succeeded", 1],
      ["succeeded", 1],
    ]);
  });

  test("`pydepot job show ID` prints the job, its history, its files and its log", async () => {
    const [eggJob] = await farm.settled("natmod", 3);
    const text = expectOk(await farm.cli(["job", "show", String(eggJob.id)])).stdout;
    const lines = text.split("\n");
    expect(lines[0]).toBe(`#${eggJob.id}\tsucceeded\tnatmod 0.1\t${EGG}\tattempts 1\tbuilder\talready built: natmod-0.1-py2.7-linux-x86_64.egg`);
    expect(lines).toContainEqual(expect.stringMatching(/^ {2}\S+ leased by builder $/));
    expect(lines).toContain("  built natmod-0.1-py2.7-linux-x86_64.egg");
    expect(lines).toContainEqual(expect.stringMatching(/^\S+ stdout: building 'natmod\._speed' extension$/));
    expect(lines).toContainEqual(expect.stringMatching(/^\S+ stdout: gcc .*-c natmod\/_speed\.c /));
  });
});
