// Degraded and regressed farm builds are held: kept off /simple/ (gate or no gate), listed on
// /staging/simple/, with a reason that names what is missing, until a project admin releases
// the hold. Real builds by a real agent (Python 2.7 egg and 3.11 wheel), then pip and
// easy_install against both indexes. No checker nodes here: held files stay off /simple/ anyway.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { easyInstall, makeEnvironment, pipInstall } from "../support/clients.js";
import { expectOk } from "../support/commands.js";
import { Farm, FARM_TEST_TIMEOUT_MS } from "../support/farm.js";
import { sharedPython } from "../support/unprivileged.js";
import { logText, request, requestJson, type JobRow } from "../support/farm-api.js";
import { buildSdist } from "../support/packages.js";

const EGG = "egg-py2.7-linux-x86_64";
const CP311 = "wheel-cp311-linux_x86_64";
const SPEEDUPS_ERROR = "optional_ext/_speedups.c:3:10: fatal error: pydepot_header_that_does_not_exist.h: No such file or directory";
const OPTIONAL_WHEEL = "optional_ext-0.1-cp311-cp311-linux_x86_64.whl";
const OPTIONAL_EGG = "optional_ext-0.1-py2.7-linux-x86_64.egg";

describe("degraded and regressed builds are held", { timeout: FARM_TEST_TIMEOUT_MS }, () => {
  let farm: Farm;
  const staging = () => `${farm.url}/staging/simple/`;
  const listedOn = async (view: "simple" | "staging/simple", project: string) => {
    const reply = await request(farm.url, `/${view}/${project}/`, { headers: { Accept: "application/vnd.pypi.simple.v1+json" } });
    return reply.status === 404 ? [] : (JSON.parse(reply.body) as { files: { filename: string }[] }).files.map((file) => file.filename).sort();
  };

  beforeAll(async () => {
    farm = await Farm.start();
    await farm.startAgent("builder", { pythons: [sharedPython("2.7"), sharedPython("3.11")] });
    await farm.upload(await buildSdist("optional-ext"), await buildSdist("regress-ext", { version: "1.0" }));
  });

  afterAll(() => farm?.stop());

  const summary = (jobs: JobRow[]) => jobs.map((job) => [job.targetKey, job.status]);

  test("an optional extension that does not compile: wheel and egg held, the reason quoting the compiler's error", async () => {
    const jobs = await farm.settled("optional-ext", 2);
    expect(summary(jobs)).toEqual([[EGG, "succeeded"], [CP311, "succeeded"]]);
    const reason = `degraded: optional_ext._speedups was not built: ${SPEEDUPS_ERROR}`;
    for (const job of jobs) {
      const details = await farm.job(job.id);
      expect(details.files.map((file) => [file.filename, file.degraded, file.holdReason])).toEqual([[job.reason.replace("built ", ""), true, reason]]);
    }
    // The wheel's log shows the compiler (pip --verbose), which is where the reason comes from.
    const wheelLog = logText(await farm.job(jobs[1].id));
    expect(wheelLog).toContain("building 'optional_ext._speedups' extension");
    expect(wheelLog).toContain(SPEEDUPS_ERROR);

    expect(await listedOn("simple", "optional-ext")).toEqual(["optional-ext-0.1.tar.gz"]);
    expect(await listedOn("staging/simple", "optional-ext")).toEqual(["optional-ext-0.1.tar.gz", OPTIONAL_WHEEL, OPTIONAL_EGG]);

    // The admin sees the reason in the job, in `pydepot checks FILE` and in the JSON API.
    const shown = expectOk(await farm.cli(["job", "show", String(jobs[1].id)])).stdout;
    expect(shown).toContain(`  built ${OPTIONAL_WHEEL} (DEGRADED) HELD: ${reason}`);
    const checks = expectOk(await farm.cli(["checks", OPTIONAL_WHEEL])).stdout;
    expect(checks).toContain(`held off /simple/ (listed on /staging/simple/): ${reason}`);
    const api = await requestJson<{ held: boolean; holdReason: string }>(farm.url, `/api/files/${OPTIONAL_WHEEL}/checks`);
    expect([api.held, api.holdReason]).toEqual([true, reason]);
  });

  test("pip and easy_install against /simple/ do not see the held files; against /staging/simple/ they do", async () => {
    await farm.settled("optional-ext", 2);
    const python311 = await makeEnvironment("3.11");
    try {
      const refused = await pipInstall(python311, farm.index, ["--only-binary", ":all:", "optional-ext==0.1"]);
      expect(refused.code).not.toBe(0);
      expect(refused.stdout + refused.stderr).toContain("No matching distribution found for optional-ext==0.1");
      const installed = expectOk(await pipInstall(python311, staging(), ["--only-binary", ":all:", "optional-ext==0.1"]));
      expect(installed.stdout).toContain(OPTIONAL_WHEEL);
    } finally {
      await python311.cleanup();
    }
    const python27 = await makeEnvironment("2.7");
    try {
      // From /simple/ easy_install finds only the sdist and builds an egg itself: it never downloads the held one.
      const fromDefault = expectOk(await easyInstall(farm.index, "optional-ext==0.1", python27.installDir));
      expect(fromDefault.stdout).toContain(`Downloading ${farm.url}/files/optional-ext/optional-ext-0.1.tar.gz#sha256=`);
      expect(fromDefault.stdout).not.toContain(`/files/optional-ext/${OPTIONAL_EGG}`);
    } finally {
      await python27.cleanup();
    }
    const fromStaging = await makeEnvironment("2.7");
    try {
      const installed = expectOk(await easyInstall(staging(), "optional-ext==0.1", fromStaging.installDir));
      expect(installed.stdout).toContain(`Downloading ${farm.url}/files/optional-ext/${OPTIONAL_EGG}#sha256=`);
    } finally {
      await fromStaging.cleanup();
    }
  });

  test("an admin's degraded waiver releases the holds it covers: the files are listed on /simple/", async () => {
    const waive = (python: string) => ["waive", "optional-ext", "--version", "0.1", "--python", python, "--degraded", "--reason", "the pure-Python fallback is fast enough for us"];
    expectOk(await farm.cli(waive("3.11")));
    expect(await listedOn("simple", "optional-ext")).toEqual(["optional-ext-0.1.tar.gz", OPTIONAL_WHEEL]);
    expectOk(await farm.cli(waive("2.7")));
    expect(await listedOn("simple", "optional-ext")).toEqual(["optional-ext-0.1.tar.gz", OPTIONAL_WHEEL, OPTIONAL_EGG]);
    const checks = expectOk(await farm.cli(["checks", OPTIONAL_WHEEL])).stdout;
    expect(checks).not.toContain("held off /simple/");
  });

  test("a release whose extension stops linking a library is held as a regression of the last listed build", async () => {
    const first = await farm.settled("regress-ext", 2);
    expect(summary(first)).toEqual([[EGG, "succeeded"], [CP311, "succeeded"]]);
    for (const job of first) {
      const [file] = (await farm.job(job.id)).files;
      expect(file.linkedLibraries).toContainEqual(expect.stringMatching(/^libz\.so\.1 => \//));
      expect(file.holdReason).toBe("");
    }
    await farm.upload(await buildSdist("regress-ext", { version: "2.0" }));
    const jobs = await farm.settled("regress-ext", 4);
    const second = jobs.filter((job) => !first.some((earlier) => earlier.id === job.id));
    expect(summary(second)).toEqual([[EGG, "succeeded"], [CP311, "succeeded"]]);
    const expected: Record<string, [string, string]> = {
      [EGG]: ["regress_ext-2.0-py2.7-linux-x86_64.egg", "regress_ext-1.0-py2.7-linux-x86_64.egg"],
      [CP311]: ["regress_ext-2.0-cp311-cp311-linux_x86_64.whl", "regress_ext-1.0-cp311-cp311-linux_x86_64.whl"],
    };
    for (const job of second) {
      const [file] = (await farm.job(job.id)).files;
      const [filename, baseline] = expected[job.targetKey];
      expect(file.filename).toBe(filename);
      expect(file.degraded).toBe(false);
      expect(file.holdReason).toMatch(new RegExp(`^regressed from ${baseline.replace(/\./g, "\\.")}: no longer links (libc\\.so\\.6, )?libz\\.so\\.1$`));
    }
    expect(await listedOn("simple", "regress-ext")).toEqual([
      "regress-ext-1.0.tar.gz",
      "regress-ext-2.0.tar.gz",
      "regress_ext-1.0-cp311-cp311-linux_x86_64.whl",
      "regress_ext-1.0-py2.7-linux-x86_64.egg",
    ]);
    expect(await listedOn("staging/simple", "regress-ext")).toHaveLength(6);

    // pip on /simple/ gets the 1.0 wheel (2.0 has only its sdist there, and binaries only are asked for), with zlib.
    const python311 = await makeEnvironment("3.11");
    try {
      const installed = expectOk(await pipInstall(python311, farm.index, ["--only-binary", ":all:", "regress-ext"]));
      expect(installed.stdout).toContain("regress_ext-1.0-cp311-cp311-linux_x86_64.whl");
      expect(expectOk(await python311.run("import regress_ext; print(regress_ext.zlib_version() is not None)")).stdout).toBe("True\n");
    } finally {
      await python311.cleanup();
    }
  });

  test("a project admin releases a hold, saying why: the file is listed on /simple/", async () => {
    const jobs = await farm.settled("regress-ext", 4);
    expect(jobs).toHaveLength(4);
    const wheel = "regress_ext-2.0-cp311-cp311-linux_x86_64.whl";
    const unsaid = await farm.cli(["release-hold", "regress-ext", wheel, "--reason", " "]);
    expect(unsaid.code).not.toBe(0);
    expect(unsaid.stderr).toContain(`Say why the hold of ${wheel} may be released`);
    expect(await listedOn("simple", "regress-ext")).not.toContain(wheel);

    expectOk(await farm.cli(["release-hold", "regress-ext", wheel, "--reason", "cos() moved to Python on purpose"]));
    expect(await listedOn("simple", "regress-ext")).toContain(wheel);
    expect(expectOk(await farm.cli(["checks", wheel])).stdout).not.toContain("held off /simple/");
    const again = await farm.cli(["release-hold", "regress-ext", wheel, "--reason", "again"]);
    expect(again.stderr).toContain(`${wheel} is not held`);
  });
});
