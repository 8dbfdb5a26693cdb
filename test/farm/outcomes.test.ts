// Real builds that do not simply succeed: a C extension that does not compile, an optional one
// that silently does not compile (a "successful" build without compiled code), and a release
// whose Requires-Python excludes one of the targets. Same farm as builds.test.ts (one agent with
// Python 2.7, 3.11 and 3.12), its own server, so both files run side by side.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { expectOk } from "../support/commands.js";
import { Farm, FARM_TEST_TIMEOUT_MS } from "../support/farm.js";
import { logText, type JobRow } from "../support/farm-api.js";
import { buildSdist } from "../support/packages.js";
import { findPython } from "../support/pythons.js";
import { basename, dirname } from "node:path";

const EGG = "egg-py2.7-linux-x86_64";
const CP311 = "wheel-cp311-linux_x86_64";
const CP312 = "wheel-cp312-linux_x86_64";

describe("real builds that fail, degrade or do not apply", { timeout: FARM_TEST_TIMEOUT_MS }, () => {
  let farm: Farm;

  beforeAll(async () => {
    farm = await Farm.start();
    await farm.startAgent("builder");
    await farm.upload(
      await buildSdist("build-fails"),
      await buildSdist("optional-ext"),
      await buildSdist("demo-pkg", { version: "2.0", requiresPython: ">=3.8" }),
    );
  });

  afterAll(() => farm?.stop());

  const summary = (jobs: JobRow[]) => jobs.map((job) => [job.targetKey, job.status, job.reason]);

  test("a C extension that does not compile: every job fails and its log shows the compiler's error", async () => {
    const jobs = await farm.settled("build-fails", 3);
    expect(summary(jobs)).toEqual([
      [EGG, "failed", "build exited with status 1"],
      [CP311, "failed", "build exited with status 1"],
      [CP312, "failed", "build exited with status 1"],
    ]);
    for (const job of jobs) {
      const details = await farm.job(job.id);
      const log = logText(details);
      expect(log, `log of ${job.targetKey}`).toMatch(/build_fails\/_broken\.c:\d+:\d+: error: expected .+ before .PYDEPOT_SYNTAX_ERROR_HERE/);
      expect(details.files).toEqual([]);
      expect(details.events.map((event) => [event.status, event.agent, event.detail])).toEqual([
        ["queued", null, ""],
        ["leased", "builder", ""],
        ["failed", "builder", "build exited with status 1"],
      ]);
    }
    expect(await farm.files("build-fails")).toEqual(["build-fails-0.1.tar.gz"]);
  });

  test("`pydepot jobs --status failed` lists the failed builds and `pydepot job show` prints the compiler's error", async () => {
    const jobs = await farm.settled("build-fails", 3);
    const failed = expectOk(await farm.cli(["jobs", "--status", "failed"])).stdout;
    expect(failed.trimEnd().split("\n").sort()).toEqual(
      jobs.map((job) => `#${job.id}\tfailed\tbuild-fails 0.1\t${job.targetKey}\tattempts 1\tbuilder\tbuild exited with status 1`).sort(),
    );
    const asJson = JSON.parse(expectOk(await farm.cli(["jobs", "--project", "build-fails", "--target", CP312, "--json"])).stdout) as JobRow[];
    expect(asJson.map((job) => [job.id, job.status])).toEqual([[jobs[2].id, "failed"]]);

    const shown = expectOk(await farm.cli(["job", "show", String(jobs[0].id)])).stdout;
    expect(shown.split("\n")[0]).toBe(`#${jobs[0].id}\tfailed\tbuild-fails 0.1\t${EGG}\tattempts 1\tbuilder\tbuild exited with status 1`);
    expect(shown).toMatch(/^ {2}\S+ failed by builder build exited with status 1$/m);
    expect(shown).toMatch(/^\S+ stdout: gcc .* -c build_fails\/_broken\.c /m);
    expect(shown).toMatch(/^\S+ stderr: build_fails\/_broken\.c:\d+:\d+: error: expected .+ before .PYDEPOT_SYNTAX_ERROR_HERE/m);
  });

  test("an optional extension that does not compile: the builds succeed, and their files are flagged degraded", async () => {
    const jobs = await farm.settled("optional-ext", 3);
    expect(summary(jobs)).toEqual([
      [EGG, "succeeded", "built optional_ext-0.1-py2.7-linux-x86_64.egg"],
      [CP311, "succeeded", "built optional_ext-0.1-cp311-cp311-linux_x86_64.whl"],
      [CP312, "succeeded", "built optional_ext-0.1-cp312-cp312-linux_x86_64.whl"],
    ]);
    for (const job of jobs) {
      const details = await farm.job(job.id);
      expect(details.files.map((file) => [file.filename, file.platform !== null, file.nativeModules, file.linkedLibraries, file.degraded])).toEqual([
        [job.reason.replace("built ", ""), true, [], [], true],
      ]);
    }
    // setuptools said why, and carried on.
    const eggLog = logText(await farm.job(jobs[0].id));
    expect(eggLog).toContain("pydepot_header_that_does_not_exist.h: No such file or directory");
    expect(eggLog).toMatch(/building optional extension "optional_ext\._speedups" failed/);
    // The admin sees it in the job too.
    const shown = expectOk(await farm.cli(["job", "show", String(jobs[1].id)])).stdout;
    expect(shown).toContain("  built optional_ext-0.1-cp311-cp311-linux_x86_64.whl (DEGRADED) HELD: degraded: optional_ext._speedups was not built: ");
  });

  test("Requires-Python: the target it excludes gets a job 'not applicable' with the reason, not a failure", async () => {
    const jobs = await farm.settled("demo-pkg", 3);
    const python27 = basename(dirname(dirname(findPython("2.7"))));
    expect(summary([jobs[0]])).toEqual([[EGG, "not_applicable", `Requires-Python >=3.8 excludes Python ${python27}`]]);
    expect(jobs[0].attempts).toBe(0);
    expect((await farm.job(jobs[0].id)).log).toEqual([]);
    expect(jobs.slice(1).map((job) => job.reason.replace(/^(built|covered by) /, ""))).toEqual([
      "Demo_Pkg-2.0-py2.py3-none-any.whl",
      "Demo_Pkg-2.0-py2.py3-none-any.whl",
    ]);
    expect(await farm.files("demo-pkg")).toEqual(["Demo_Pkg-2.0-py2.py3-none-any.whl", "Demo_Pkg-2.0.tar.gz"]);
    // Not counted as a failure.
    expect((await farm.jobs({ status: "failed" })).filter((job) => job.project === "demo-pkg")).toEqual([]);
    expect((await farm.jobs({ status: "not_applicable" })).map((job) => [job.project, job.targetKey])).toEqual([["demo-pkg", EGG]]);
  });
});
