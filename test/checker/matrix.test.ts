// The verdict matrix, on a real OpenSSH node with Python 3.11 and 2.7: a universal wheel is
// checked on both; a failure on one holds it off /simple/ until an admin waives it (and again
// once the waiver is revoked); a dependency with no file for one Python is `unresolvable`; a
// project's smoke check runs on every interpreter and a failing one fails the file; and
// `pydepot check` with no nodes says so. pip installs from /simple/ what the matrix lets through.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { makeEnvironment, pipInstall, pythonImport, type PythonEnvironment } from "../support/clients.js";
import { cleanEnv, expectOk, runCommand } from "../support/commands.js";
import {
  addFile,
  buildFixture,
  listed,
  nodeSettings,
  runCli,
  startCheckerServer,
  temporaryFolder,
  waitForMatrix,
  type CheckerServer,
  type NodeSettings,
} from "../support/checker.js";
import { waiverCovers } from "../../src/core/verdicts.js";
import type { WaiverRow } from "../../src/store/waivers.js";
import { OPERATOR } from "../../src/cli/context.js";
import { buildWheel } from "../support/packages.js";
import { startSshd, type SshdNode } from "../support/sshd.js";
import { sharedPython } from "../support/unprivileged.js";

/** Each test waits for real checks on two interpreters: generous on a busy 2-core machine. */
const CHECKS_TIMEOUT_MS = 300_000;

let node: SshdNode;
let nodeConfig: NodeSettings;
let server: CheckerServer;
const files: Record<string, string> = {};
const environments: PythonEnvironment[] = [];

beforeAll(async () => {
  node = await startSshd();
  nodeConfig = nodeSettings(node, { parallel: 2 });
  server = await startCheckerServer({ nodes: [nodeConfig] });
  const built = {
    py3Only: buildFixture({ fixture: "py3-only" }),
    // py3-dep comes later, in its test: first its dependent finds no file of it on any Python.
    needsPy3Dep: buildFixture({ fixture: "needs-py3-dep" }),
    demo: buildWheel("demo-pkg", { version: "3.0" }),
    python3Only: buildWheel("demo-pkg", { version: "4.0", requiresPython: ">=3.6" }),
  };
  for (const [key, path] of Object.entries(built)) files[key] = await addFile(server, await path);
}, 300_000);

afterAll(async () => {
  await Promise.all(environments.map((environment) => environment.cleanup()));
  await server?.stop();
  await node?.dispose();
});

async function pydepot(...args: string[]): Promise<string> {
  return expectOk(await runCli(server, nodeConfig, args)).stdout;
}

async function environment(version: string): Promise<PythonEnvironment> {
  const made = await makeEnvironment(version);
  environments.push(made);
  return made;
}

describe("a universal wheel whose module imports on Python 3 only", { timeout: CHECKS_TIMEOUT_MS }, () => {
  test("is checked on 2.7 and 3.11: failed on 2.7, verified on 3.11, so held off /simple/", async () => {
    expect(files.py3Only).toBe("py3_only-1.0-py2.py3-none-any.whl");
    const { state, byPython } = await waitForMatrix(server, files.py3Only, 2);
    expect(Object.keys(byPython).sort()).toEqual(["2.7", "3.11"]);
    expect(byPython["3.11"].verdict).toBe("verified");
    expect(byPython["3.11"].check?.interpreter).toBe(sharedPython("3.11"));
    expect(byPython["3.11"].check?.node).toBe("clean-1");
    expect(byPython["3.11"].check?.durationMs).toBeGreaterThan(0);
    expect(byPython["3.11"].reason).toBe("installed and imported 1 modules");
    expect(byPython["2.7"].verdict).toBe("failed");
    expect(byPython["2.7"].check?.interpreter).toBe(sharedPython("2.7"));
    expect(byPython["2.7"].check?.cause).toBe("broken");
    expect(byPython["2.7"].reason).toBe("import py3_only failed: ImportError: py3_only needs Python 3");
    expect(byPython["2.7"].check?.log).toContain(`check of ${files.py3Only} on Python 2.7`);
    expect(state.verification).toBe("failed");
    expect(await listed(server.index, "py3-only")).toEqual([]);
    const printed = await pydepot("checks", files.py3Only);
    expect(printed.split("\n").slice(0, 3)).toEqual([
      `${files.py3Only}: failed`,
      expect.stringMatching(/^ {2}Python 2\.7 \S+\tfailed on clean-1 \S+python2\.7 in \d+\.\d s\timport py3_only failed: ImportError: py3_only needs Python 3$/),
      expect.stringMatching(/^ {2}Python 3\.11 \S+\tverified on clean-1 \S+python3\.11 in \d+\.\d s\tinstalled and imported 1 modules$/),
    ]);
  });

  test("a waiver for the module on 2.7 lists it, shown next to the verdict; pip 3.11 installs it from /simple/", async () => {
    const given = await pydepot("waive", "py3-only", "--module", "py3_only", "--python", "2.7", "--reason", "the API is Python 3 only; 2.7 servers pin 0.9");
    expect(given).toBe("waiver #1: py3-only (every version), module py3_only, Python 2.7: the API is Python 3 only; 2.7 servers pin 0.9\n");
    const { state, byPython } = await waitForMatrix(server, files.py3Only, 2);
    expect(state.verification).toBe("verified");
    expect(byPython["2.7"].verdict).toBe("waived");
    expect(byPython["2.7"].waivers.map((waiver) => [waiver.id, waiver.reason, waiver.createdBy])).toEqual([[1, "the API is Python 3 only; 2.7 servers pin 0.9", expect.stringMatching(/^cli:/)]]);
    expect(await listed(server.index, "py3-only")).toEqual([files.py3Only]);
    expect(await pydepot("checks", files.py3Only)).toContain("\twaived on clean-1");
    expect(await pydepot("checks", files.py3Only)).toContain("[waived by #1 (cli:");

    const python3 = await environment("3.11");
    const install = expectOk(await pipInstall(python3, server.index, ["py3-only==1.0"]));
    expect(install.stdout).toContain(files.py3Only);
    expect(expectOk(await pythonImport(python3, "py3_only")).stdout).toContain(python3.installDir);
  });

  test("re-verification applies the waiver too; revoking it holds the file again, and both are in the history", async () => {
    server.services.checks.request(OPERATOR, files.py3Only, "reverify");
    const { state } = await waitForMatrix(server, files.py3Only, 2);
    expect(state.checks.map((check) => [check.purpose, check.python, check.status])).toEqual([
      ["reverify", "3.11", "verified"],
      ["reverify", "2.7", "failed"],
      ["new", "3.11", "verified"],
      ["new", "2.7", "failed"],
    ]);
    expect(state.verification).toBe("verified");
    expect(await listed(server.index, "py3-only")).toEqual([files.py3Only]);

    expect(await pydepot("unwaive", "1")).toBe("revoked waiver #1: py3-only (every version), module py3_only, Python 2.7\n");
    const after = await waitForMatrix(server, files.py3Only, 2);
    expect([after.state.verification, after.byPython["2.7"].verdict]).toEqual(["failed", "failed"]);
    expect(await listed(server.index, "py3-only")).toEqual([]);
    const waivers = await pydepot("waivers", "py3-only");
    expect(waivers).toMatch(/^#1\trevoked by cli:\S+ at \S+\tpy3-only \(every version\), module py3_only, Python 2\.7\tthe API is Python 3 only; 2\.7 servers pin 0\.9\t\(by cli:\S+ at \S+\)\n$/);
    const history = server.services.stores.history.forProject("py3-only").map((event) => event.action);
    expect(history).toEqual(expect.arrayContaining(["waiver.add", "waiver.revoke", "check.failed", "check.verified"]));
  });

  test("a waiver for another module or another Python does not list it; a degraded waiver is recorded for holds only", async () => {
    await pydepot("waive", "py3-only", "--module", "py3_only", "--python", "3.11", "--reason", "wrong Python");
    await pydepot("waive", "py3-only", "--module", "other", "--python", "2.7", "--reason", "wrong module");
    await pydepot("waive", "py3-only", "--version", "1.0", "--degraded", "--reason", "pure fallback is fine");
    const { state } = await waitForMatrix(server, files.py3Only, 2);
    expect(state.verification).toBe("failed");
    expect(await listed(server.index, "py3-only")).toEqual([]);
    const { waivers } = (await (await fetch(`${server.url}/api/projects/py3-only/waivers`)).json()) as { waivers: WaiverRow[] };
    const covering = (version: string) => waivers.filter((waiver) => !waiver.revokedAt && waiverCovers(waiver, { project: "py3-only", version, degraded: true }));
    expect(covering("1.0").map((waiver) => [waiver.id, waiver.reason, waiver.degraded])).toEqual([[4, "pure fallback is fine", true]]);
    expect(covering("2.0")).toEqual([]);
    expect(await pydepot("waivers", "py3-only")).toContain("py3-only 1.0, any module, every Python (degraded builds)\tpure fallback is fine");
  });
});

describe("Requires-Python", { timeout: CHECKS_TIMEOUT_MS }, () => {
  test("a universal wheel that requires Python 3.6+ is checked on 3.11 only, and listed once verified there", async () => {
    expect(files.python3Only).toBe("Demo_Pkg-4.0-py2.py3-none-any.whl");
    const { state } = await waitForMatrix(server, files.python3Only, 1);
    expect(state.matrix.map((entry) => [entry.python, entry.verdict])).toEqual([["3.11", "verified"]]);
    expect(state.checks.map((check) => [check.python, check.status])).toEqual([["3.11", "verified"]]);
    expect(state.verification).toBe("verified");
  });
});

describe("a dependency with no file for one Python", { timeout: CHECKS_TIMEOUT_MS }, () => {
  test("is unresolvable on 2.7 (naming the requirement), verified on 3.11 once the dependency arrives, and the file is held", async () => {
    const before = await waitForMatrix(server, files.needsPy3Dep, 2);
    expect(before.state.matrix.map((entry) => [entry.python, entry.verdict, entry.reason])).toEqual([
      ["2.7", "unresolvable", "dependency py3-dep>=1.0 has no file on the index that Python 2.7 installs"],
      ["3.11", "unresolvable", "dependency py3-dep>=1.0 has no file on the index that Python 3.11 installs"],
    ]);
    expect(before.state.checks.map((check) => check.missingRequirement)).toEqual(["py3-dep", "py3-dep"]);

    // The dependency's file arrives (a farm builds in no particular order): its dependent is checked again where it waited for it.
    files.py3Dep = await addFile(server, await buildFixture({ fixture: "py3-dep" }));
    expect(files.py3Dep).toBe("py3_dep-1.0-py3-none-any.whl");
    const dependency = await waitForMatrix(server, files.py3Dep, 1);
    expect(dependency.state.matrix.map((entry) => [entry.python, entry.verdict])).toEqual([["3.11", "verified"]]);

    const { state, byPython } = await waitForMatrix(server, files.needsPy3Dep, 2);
    expect(state.checks.map((check) => [check.purpose, check.python, check.status, check.cause])).toEqual([
      ["reverify", "3.11", "verified", ""],
      ["reverify", "2.7", "failed", "unresolvable"],
      ["new", "3.11", "failed", "unresolvable"],
      ["new", "2.7", "failed", "unresolvable"],
    ]);
    expect(byPython["3.11"].verdict).toBe("verified");
    expect(byPython["2.7"].verdict).toBe("unresolvable");
    expect(byPython["2.7"].check?.cause).toBe("unresolvable");
    expect(byPython["2.7"].reason).toBe("dependency py3-dep>=1.0 has no file on the index that Python 2.7 installs");
    expect(state.verification).toBe("failed");
    expect(await listed(server.index, "needs-py3-dep")).toEqual([]);
    expect(await listed(server.index, "py3-dep")).toEqual([files.py3Dep]);
    expect(await pydepot("checks", files.needsPy3Dep)).toMatch(/\n {2}Python 2\.7 \S+\tunresolvable on clean-1 .*\tdependency py3-dep>=1\.0 has no file on the index that Python 2\.7 installs\n/);
  });
});

describe("a smoke check", { timeout: CHECKS_TIMEOUT_MS }, () => {
  test("that fails fails the file on every interpreter; one that passes lets it through to pip on 2.7", async () => {
    const first = await waitForMatrix(server, files.demo, 2);
    expect(first.state.verification).toBe("verified");
    expect(await listed(server.index, "demo-pkg")).toContain(files.demo);

    const set = await pydepot("smoke", "set", "demo-pkg", "import demo_pkg; assert demo_pkg.VERSION == '0.1', 'JPEG support missing'");
    expect(set).toMatch(/^smoke check of demo-pkg set by cli:\S+;/);
    expect(await pydepot("smoke", "show", "demo-pkg")).toMatch(/^set by cli:\S+ at \S+:\nimport demo_pkg; assert demo_pkg\.VERSION == '0\.1', 'JPEG support missing'\n$/);
    server.services.checks.request(OPERATOR, files.demo);
    const failed = await waitForMatrix(server, files.demo, 2);
    for (const python of ["2.7", "3.11"]) {
      expect(failed.byPython[python].verdict).toBe("failed");
      expect(failed.byPython[python].reason).toBe("the smoke check failed: AssertionError: JPEG support missing");
      expect(failed.byPython[python].check?.smoke).toEqual({ ok: false, output: "AssertionError: JPEG support missing" });
      expect(failed.byPython[python].check?.log).toContain("smoke check:\nimport demo_pkg;");
    }
    expect(failed.state.verification).toBe("failed");
    expect(await listed(server.index, "demo-pkg")).not.toContain(files.demo);

    await pydepot("smoke", "set", "demo-pkg", "import demo_pkg; assert demo_pkg.VERSION == '3.0'");
    server.services.checks.request(OPERATOR, files.demo);
    const passed = await waitForMatrix(server, files.demo, 2);
    for (const python of ["2.7", "3.11"]) {
      expect(passed.byPython[python].verdict).toBe("verified");
      expect(passed.byPython[python].reason).toBe("installed and imported 1 modules; the smoke check passed");
    }
    expect(await listed(server.index, "demo-pkg")).toContain(files.demo);
    const python2 = await environment("2.7");
    const install = expectOk(await pipInstall(python2, server.index, ["Demo_Pkg==3.0"]));
    expect(install.stdout).toContain(files.demo);
    expect(expectOk(await python2.run("import demo_pkg; print(demo_pkg.VERSION)")).stdout.trim()).toBe("3.0");
  });
});

describe("an interpreter dropped from the configuration", { timeout: CHECKS_TIMEOUT_MS }, () => {
  test("no longer counts once the file is checked again: its old verdicts stay as retired history", async () => {
    expect((await waitForMatrix(server, files.py3Only, 2)).state.verification).toBe("failed");
    await server.stop();
    nodeConfig = { ...nodeConfig, interpreters: [sharedPython("3.11")] };
    server = await startCheckerServer({ nodes: [nodeConfig], storage: server.storage });
    server.services.checks.request(OPERATOR, files.py3Only);
    const { state } = await waitForMatrix(server, files.py3Only, 1);
    expect(state.matrix.map((entry) => [entry.python, entry.verdict])).toEqual([["3.11", "verified"]]);
    expect(state.verification).toBe("verified");
    expect(state.checks.filter((check) => check.python === "2.7").map((check) => [check.status, check.retired])).toEqual([
      ["failed", true],
      ["failed", true],
    ]);
    expect(await listed(server.index, "py3-only")).toEqual([files.py3Only]);
  });
});

describe("with no nodes configured", { timeout: CHECKS_TIMEOUT_MS }, () => {
  test("`pydepot check` says so and exits non-zero", async () => {
    const folder = temporaryFolder("no-nodes");
    const config = join(folder, "pydepot.toml");
    writeFileSync(config, `[storage]\npath = ${JSON.stringify(join(folder, "storage"))}\n`);
    const main = join(import.meta.dirname, "..", "..", "dist", "main.js");
    const result = await runCommand(["node", main, "--config", config, "check", "demo-pkg"], { env: cleanEnv(), cwd: folder });
    expect(result.code).toBe(1);
    expect(result.stdout).toBe("");
    expect(result.stderr).toBe("pydepot: No clean nodes are configured ([[nodes]] in the config file), so no check would run: the index lists every file unchecked\n");
  });
});
