// The gate: with a clean node configured, /simple/ lists an egg or wheel only once a check has
// verified it; /staging/simple/ also lists it while pending. The node starts down, so the files
// stay pending until it is back; then they are verified, listed, and install with pip and
// easy_install from /simple/.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { easyInstall, makeEnvironment, pipInstall, pythonImport, type PythonEnvironment } from "../support/clients.js";
import { expectOk } from "../support/commands.js";
import {
  addFile,
  eventually,
  fileChecks,
  listed,
  nodeHealth,
  nodeSettings,
  startCheckerServer,
  waitForVerdict,
  type CheckerServer,
} from "../support/checker.js";
import { buildEgg, buildWheel } from "../support/packages.js";
import { sharedPython } from "../support/unprivileged.js";
import { startSshd, type SshdNode } from "../support/sshd.js";

let node: SshdNode;
let server: CheckerServer;
let wheelFile: string;
let eggFile: string;
const environments: PythonEnvironment[] = [];

beforeAll(async () => {
  node = await startSshd();
  await node.stop();
  server = await startCheckerServer({ nodes: [nodeSettings(node)] });
  const [wheelPath, eggPath] = await Promise.all([buildWheel("demo-pkg"), buildEgg("demo-pkg")]);
  wheelFile = await addFile(server, wheelPath);
  eggFile = await addFile(server, eggPath);
}, 300_000);

afterAll(async () => {
  await Promise.all(environments.map((environment) => environment.cleanup()));
  await server?.stop();
  await node?.dispose();
});

describe("a pure wheel and a pure egg", () => {
  test("while the node is down: pending with the node's error, listed by staging only", async () => {
    expect([wheelFile, eggFile]).toEqual(["Demo_Pkg-1.0-py2.py3-none-any.whl", "Demo_Pkg-1.0-py2.7.egg"]);
    const health = await eventually(
      "GET /api/nodes shows clean-1 unhealthy",
      async (seen) => {
        const current = await nodeHealth(server, "clean-1");
        seen.last = current;
        return current && !current.healthy ? current : undefined;
      },
      30_000,
    );
    expect(health.lastError).toBe(`node clean-1: cannot connect to ${node.host}:${node.port}: ECONNREFUSED`);
    for (const filename of [wheelFile, eggFile]) {
      const state = await eventually(
        `${filename} pending with a reason`,
        async (seen) => {
          const current = await fileChecks(server, filename);
          seen.last = current;
          return current.checks[0]?.reason ? current : undefined;
        },
        30_000,
      );
      expect(state.verification).toBe("pending");
      expect(state.checks.map((check) => [check.purpose, check.status])).toEqual([["new", "pending"]]);
      expect(state.checks[0].reason).toBe(`node clean-1: cannot connect to ${node.host}:${node.port}: ECONNREFUSED`);
    }
    expect(await listed(server.index, "demo-pkg")).toEqual([]);
    expect((await listed(server.staging, "demo-pkg")).sort()).toEqual([wheelFile, eggFile].sort());
  });

  test("once the node is back: verified on the matching interpreter, then listed by /simple/", async () => {
    await node.restart();
    const wheel = await waitForVerdict(server, wheelFile);
    const egg = await waitForVerdict(server, eggFile);
    for (const { state, check } of [wheel, egg]) {
      expect(state.verification).toBe("verified");
      expect(check.reason).toBe("installed and imported 1 modules");
      expect(check.modules.map((module) => [module.name, module.ok])).toEqual([["demo_pkg", true]]);
      expect(check.missingLibraries).toEqual([]);
      expect(check.degraded).toBe(false);
    }
    expect(wheel.check.interpreter).toBe(sharedPython("3.11"));
    expect(wheel.check.log).toContain(`check of ${wheelFile} on Python 3.11`);
    expect(wheel.check.log).toContain("-m pip install --isolated --no-cache-dir");
    expect(wheel.check.log).toContain("Successfully installed Demo-Pkg-1.0");
    expect(egg.check.interpreter).toBe(sharedPython("2.7"));
    expect(egg.check.log).toContain(`check of ${eggFile} on Python 2.7`);
    expect(egg.check.log).toContain("easy_install");
    expect(egg.check.log).toMatch(/Installed \S+Demo_Pkg-1\.0-py2\.7\.egg/);
    expect((await listed(server.index, "demo-pkg")).sort()).toEqual([wheelFile, eggFile].sort());
    const health = await nodeHealth(server, "clean-1");
    expect([health?.healthy, health?.lastError]).toEqual([true, ""]);
  });

  test("pip 3.11 installs the verified wheel from /simple/", async () => {
    const environment = await makeEnvironment("3.11");
    environments.push(environment);
    const install = expectOk(await pipInstall(environment, server.index, ["Demo_Pkg==1.0"]));
    expect(install.stdout).toContain(wheelFile);
    const imported = expectOk(await pythonImport(environment, "demo_pkg"));
    expect(imported.stdout).toContain(environment.installDir);
  });

  test("easy_install on 2.7 installs the verified egg from /simple/", async () => {
    const environment = await makeEnvironment("2.7");
    environments.push(environment);
    const install = expectOk(await easyInstall(server.index, "Demo_Pkg==1.0", environment.installDir));
    expect(install.stdout + install.stderr).toContain(eggFile);
    const imported = expectOk(await pythonImport(environment, "demo_pkg"));
    expect(imported.stdout).toContain(eggFile);
  });
});
