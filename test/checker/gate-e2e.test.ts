// The gate end to end (issue 8): sdists uploaded with twine, built by a real agent (two slots,
// Python 2.7 eggs and 3.11 wheels), each egg and wheel checked by the real checker on a real
// OpenSSH node with Python 2.7 and 3.11, and what /simple/ then offers to pip and easy_install.
// One farm and one node serve every case; all first-round sdists are uploaded (and the smoke
// check set) before the agent starts, so every build and check runs at once and each test only
// waits for its own project.
import { afterAll, beforeAll, describe, test } from "vitest";
import { readdirSync } from "node:fs";
import { easyInstall, makeEnvironment, pipDownload, pipInstall, type PythonEnvironment } from "../support/clients.js";
import { expectOk } from "../support/commands.js";
import { checkerToml, fileChecks, listed, nodeSettings, temporaryFolder, waitForMatrix, type NodeSettings } from "../support/checker.js";
import { Farm, FARM_TEST_TIMEOUT_MS } from "../support/farm.js";
import type { JobRow } from "../support/farm-api.js";
import { buildSdist } from "../support/packages.js";
import { findPython } from "../support/pythons.js";
import { startSshd, type SshdNode } from "../support/sshd.js";
import { sharedPython } from "../support/unprivileged.js";

const EGG = "egg-py2.7-linux-x86_64";
const CP311 = "wheel-cp311-linux_x86_64";
const SMOKE = "import demo_pkg; assert demo_pkg.VERSION == '0.1', 'JPEG support missing'";
const SPEEDUPS_ERROR = "optional_ext/_speedups.c:3:10: fatal error: pydepot_header_that_does_not_exist.h: No such file or directory";

let node: SshdNode;
let nodeConfig: NodeSettings;
let farm: Farm;
/** regress-ext 2.0, uploaded once 1.0 is verified everywhere (the regression check compares with the last listed build). */
let secondRelease: Promise<void>;
const environments: PythonEnvironment[] = [];

beforeAll(async () => {
  const sdists = Promise.all([
    buildSdist("regress-ext", { version: "1.0" }),
    buildSdist("py3-only"),
    buildSdist("needs-py3-dep"),
    buildSdist("py3-dep"),
    buildSdist("demo-pkg", { version: "5.0", requiresPython: ">=3.6" }),
    buildSdist("optional-ext"),
  ]);
  const regressed = buildSdist("regress-ext", { version: "2.0" });
  node = await startSshd();
  nodeConfig = nodeSettings(node, { parallel: 2 });
  farm = await Farm.start({}, { config: checkerToml([nodeConfig], { sweep_seconds: 2, retry_seconds: 2 }) });
  await farm.upload(...(await sdists));
  // Set before any build exists, so the first check of every demo-pkg file runs it.
  expectOk(await farm.cli(["smoke", "set", "demo-pkg", SMOKE]));
  await farm.startAgent("builder", { pythons: [sharedPython("2.7"), sharedPython("3.11")], slots: 2 });
  secondRelease = (async () => {
    await farm.settled("regress-ext", 2);
    for (const filename of ["regress_ext-1.0-py2.7-linux-x86_64.egg", "regress_ext-1.0-cp311-cp311-linux_x86_64.whl"]) {
      const { state } = await waitForMatrix(farm, filename, 1);
      if (state.verification !== "verified") throw new Error(`${filename} is ${state.verification}, so 2.0 has no baseline: ${JSON.stringify(state.matrix)}`);
    }
    await farm.upload(await regressed);
  })();
  // Awaited by its test; a failure must not surface before as an unhandled rejection.
  secondRelease.catch(() => undefined);
}, FARM_TEST_TIMEOUT_MS);

afterAll(async () => {
  await Promise.all(environments.map((environment) => environment.cleanup()));
  await farm?.stop();
  await node?.dispose();
});

async function environment(version: string): Promise<PythonEnvironment> {
  const made = await makeEnvironment(version);
  environments.push(made);
  return made;
}

const summary = (jobs: JobRow[]) => jobs.map((job) => [job.targetKey, job.status, job.reason]);

async function pydepot(...args: string[]): Promise<string> {
  return expectOk(await farm.cli(args)).stdout;
}

/** What `pip download --only-binary :all:` with Python 3.11 gets from /simple/ (no environment needed): the file names, or pip's refusal. */
async function binariesFor(requirement: string): Promise<{ files: string[]; output: string }> {
  const folder = temporaryFolder("pip-download");
  const result = await pipDownload(findPython("3.11"), farm.index, folder, ["--only-binary", ":all:", "--no-deps", requirement]);
  return { files: result.code === 0 ? readdirSync(folder).sort() : [], output: result.stdout + result.stderr };
}

// Concurrent: each case waits for its own project, and one case's clients run while another's checks do.
describe.concurrent("through real agents and a real node", { timeout: FARM_TEST_TIMEOUT_MS }, () => {
  test("(a) a universal wheel that imports on Python 3 only is held until waived for 2.7, then pip 3.11 installs it from /simple/", async ({ expect }) => {
    const wheel = "py3_only-1.0-py2.py3-none-any.whl";
    const egg = "py3_only-1.0-py2.7.egg";
    // Made while the farm works, for pip at the end.
    const python3Ready = environment("3.11");
    python3Ready.catch(() => undefined);
    expect(summary(await farm.settled("py3-only", 2))).toEqual([
      [EGG, "succeeded", `built ${egg}`],
      [CP311, "succeeded", `built ${wheel}`],
    ]);
    const { state, byPython } = await waitForMatrix(farm, wheel, 2);
    expect([byPython["2.7"].verdict, byPython["2.7"].reason]).toEqual(["failed", "import py3_only failed: ImportError: py3_only needs Python 3"]);
    expect([byPython["3.11"].verdict, byPython["3.11"].reason]).toEqual(["verified", "installed and imported 1 modules"]);
    expect(state.verification).toBe("failed");
    const eggMatrix = await waitForMatrix(farm, egg, 1);
    expect(eggMatrix.state.matrix.map((entry) => [entry.python, entry.verdict])).toEqual([["2.7", "failed"]]);
    expect(await listed(farm.index, "py3-only")).toEqual(["py3-only-1.0.tar.gz"]);

    // The admin sees the matrix with the CLI.
    expect((await pydepot("checks", wheel)).split("\n").slice(0, 3)).toEqual([
      `${wheel}: failed`,
      expect.stringMatching(/^ {2}Python 2\.7 linux-x86_64\tfailed on clean-1 \S+python2\.7 in \d+\.\d s\timport py3_only failed: ImportError: py3_only needs Python 3$/),
      expect.stringMatching(/^ {2}Python 3\.11 linux-x86_64\tverified on clean-1 \S+python3\.11 in \d+\.\d s\tinstalled and imported 1 modules$/),
    ]);

    const reason = "the API is Python 3 only; 2.7 servers pin 0.9";
    expect(await pydepot("waive", "py3-only", "--module", "py3_only", "--python", "2.7", "--reason", reason)).toMatch(
      /^waiver #\d+: py3-only \(every version\), module py3_only, Python 2\.7: the API is Python 3 only; 2\.7 servers pin 0\.9\n$/,
    );
    const waived = await fileChecks(farm, wheel);
    expect(waived.verification).toBe("verified");
    expect(waived.matrix.map((entry) => [entry.python, entry.verdict, entry.waivers.map((waiver) => waiver.reason)])).toEqual([
      ["2.7", "waived", [reason]],
      ["3.11", "verified", []],
    ]);
    expect((await listed(farm.index, "py3-only")).sort()).toEqual(["py3-only-1.0.tar.gz", egg, wheel]);

    const python3 = await python3Ready;
    const install = expectOk(await pipInstall(python3, farm.index, ["--only-binary", ":all:", "py3-only==1.0"]));
    expect(install.stdout).toContain(wheel);
    expect(expectOk(await python3.run("import py3_only; print(py3_only.GREETING)")).stdout).toBe("hello from Python 3\n");
  });

  test("(e) a dependency with no file for Python 2.7 is unresolvable there, naming the requirement; verified on 3.11 whichever was built first", async ({ expect }) => {
    expect(summary(await farm.settled("py3-dep", 2))).toEqual([
      [EGG, "not_applicable", expect.stringMatching(/^Requires-Python >=3 excludes Python 2\.7\.\d+$/)],
      [CP311, "succeeded", "built py3_dep-1.0-py3-none-any.whl"],
    ]);
    const dependency = await waitForMatrix(farm, "py3_dep-1.0-py3-none-any.whl", 1);
    expect(dependency.state.matrix.map((entry) => [entry.python, entry.verdict])).toEqual([["3.11", "verified"]]);

    // Its dependent may have been checked before the dependency was built: then it is checked again now.
    const wheel = "needs_py3_dep-1.0-py2.py3-none-any.whl";
    await farm.settled("needs-py3-dep", 2);
    const { state, byPython } = await waitForMatrix(farm, wheel, 2);
    expect(byPython["3.11"].verdict).toBe("verified");
    expect(byPython["2.7"].verdict).toBe("unresolvable");
    expect(byPython["2.7"].reason).toBe("dependency py3-dep>=1.0 has no file on the index that Python 2.7 installs");
    expect(byPython["2.7"].check?.missingRequirement).toBe("py3-dep");
    expect(state.verification).toBe("failed");
    // Its egg too: easy_install takes no sdist on a clean node (it would build py3-dep for 2.7, Requires-Python notwithstanding).
    const egg = await waitForMatrix(farm, "needs_py3_dep-1.0-py2.7.egg", 1);
    expect(egg.state.matrix.map((entry) => [entry.python, entry.verdict, entry.reason])).toEqual([
      ["2.7", "unresolvable", "dependency py3-dep>=1.0 has no file on the index that Python 2.7 installs"],
    ]);
    expect(await listed(farm.index, "needs-py3-dep")).toEqual(["needs-py3-dep-1.0.tar.gz"]);
    expect(await pydepot("checks", wheel)).toMatch(
      /^needs_py3_dep-1\.0-py2\.py3-none-any\.whl: failed\n {2}Python 2\.7 \S+\tunresolvable on clean-1 .*\tdependency py3-dep>=1\.0 has no file on the index that Python 2\.7 installs\n {2}Python 3\.11 \S+\tverified on clean-1 /,
    );
  });

  test("(d) a smoke check that fails fails the file: it is not listed", async ({ expect }) => {
    // Requires-Python >=3.6: one build (no egg) and one interpreter, to keep the file fast.
    const wheel = "Demo_Pkg-5.0-py2.py3-none-any.whl";
    expect(summary(await farm.settled("demo-pkg", 2))).toEqual([
      [EGG, "not_applicable", expect.stringMatching(/^Requires-Python >=3\.6 excludes Python 2\.7\.\d+$/)],
      [CP311, "succeeded", `built ${wheel}`],
    ]);
    const { state } = await waitForMatrix(farm, wheel, 1);
    expect(state.matrix.map((entry) => [entry.python, entry.verdict, entry.reason])).toEqual([["3.11", "failed", "the smoke check failed: AssertionError: JPEG support missing"]]);
    expect(state.matrix[0].check?.smoke).toEqual({ ok: false, output: "AssertionError: JPEG support missing" });
    expect(state.verification).toBe("failed");
    expect(await listed(farm.index, "demo-pkg")).toEqual(["Demo_Pkg-5.0.tar.gz"]);
  });

  test("(b) an optional extension that does not compile: wheel and egg held as degraded, quoting the compiler; pip and easy_install cannot get them", async ({ expect }) => {
    const wheel = "optional_ext-0.1-cp311-cp311-linux_x86_64.whl";
    const egg = "optional_ext-0.1-py2.7-linux-x86_64.egg";
    expect(summary(await farm.settled("optional-ext", 2))).toEqual([
      [EGG, "succeeded", `built ${egg}`],
      [CP311, "succeeded", `built ${wheel}`],
    ]);
    const reason = `degraded: optional_ext._speedups was not built: ${SPEEDUPS_ERROR}`;
    for (const filename of [wheel, egg]) {
      // Verified (it imports: the pure-Python fallback), and held all the same.
      const { state } = await waitForMatrix(farm, filename, 1);
      expect([filename, state.verification, state.degraded, state.held, state.holdReason]).toEqual([filename, "verified", true, true, reason]);
    }
    expect(await listed(farm.index, "optional-ext")).toEqual(["optional-ext-0.1.tar.gz"]);
    expect(await pydepot("checks", wheel)).toContain(`held off /simple/ (listed on /staging/simple/): ${reason}`);

    const [refused, fromDefault] = await Promise.all([
      binariesFor("optional-ext==0.1"),
      environment("2.7").then((python2) => easyInstall(farm.index, "optional-ext==0.1", python2.installDir)),
    ]);
    expect(refused.files).toEqual([]);
    expect(refused.output).toContain("No matching distribution found for optional-ext==0.1");
    // From /simple/ easy_install finds only the sdist and builds an egg itself: never the held one.
    expectOk(fromDefault);
    expect(fromDefault.stdout).toContain(`/files/optional-ext/optional-ext-0.1.tar.gz#sha256=`);
    expect(fromDefault.stdout).not.toContain(`/files/optional-ext/${egg}`);
  });

  test("(c) a release whose extension no longer links a library is held as a regression naming it; pip gets the last good one", async ({ expect }) => {
    await secondRelease;
    const jobs = await farm.settled("regress-ext", 4);
    const second = jobs.filter((job) => job.version === "2.0");
    expect(summary(second)).toEqual([
      [EGG, "succeeded", "built regress_ext-2.0-py2.7-linux-x86_64.egg"],
      [CP311, "succeeded", "built regress_ext-2.0-cp311-cp311-linux_x86_64.whl"],
    ]);
    for (const [filename, baseline] of [
      ["regress_ext-2.0-py2.7-linux-x86_64.egg", "regress_ext-1.0-py2.7-linux-x86_64.egg"],
      ["regress_ext-2.0-cp311-cp311-linux_x86_64.whl", "regress_ext-1.0-cp311-cp311-linux_x86_64.whl"],
    ]) {
      const { state } = await waitForMatrix(farm, filename, 1);
      expect([filename, state.verification, state.degraded, state.held]).toEqual([filename, "verified", false, true]);
      expect(state.holdReason).toMatch(new RegExp(`^regressed from ${baseline.replace(/\./g, "\\.")}: no longer links (libc\\.so\\.6, )?libz\\.so\\.1$`));
    }
    expect((await listed(farm.index, "regress-ext")).sort()).toEqual([
      "regress-ext-1.0.tar.gz",
      "regress-ext-2.0.tar.gz",
      "regress_ext-1.0-cp311-cp311-linux_x86_64.whl",
      "regress_ext-1.0-py2.7-linux-x86_64.egg",
    ]);
    expect((await binariesFor("regress-ext")).files).toEqual(["regress_ext-1.0-cp311-cp311-linux_x86_64.whl"]);
  });
});
