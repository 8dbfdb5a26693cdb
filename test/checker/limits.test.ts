// Every child of a check (pip, the imports, the smoke check, ldd) runs with resource limits: a
// package whose import forks without end meets the process limit, fails with the failed fork as
// its reason on 3.11 and 2.7, leaves nothing of the login running (nor a zombie), and the node
// runs the next check as before, whose smoke check sees the four limits. The node logs in as a
// user of its own: the process limit counts every process of the login, and a bomb on the shared
// login would starve the checks of test files running beside this one.
import { afterAll, beforeAll, expect, test } from "vitest";
import { addFile, buildFixture, eventually, nodeHealth, nodeSettings, startCheckerServer, waitForMatrix, type CheckerServer } from "../support/checker.js";
import { cleanEnv, runCommand } from "../support/commands.js";
import { buildWheel } from "../support/packages.js";
import { startSshd, type SshdNode } from "../support/sshd.js";
import { BOMBED_NODE_USER } from "../support/unprivileged.js";

/** Fails unless the child runs with the limits check.py gives it (Python 2.7 and 3). */
const LIMITS_SMOKE_CHECK = [
  "import resource",
  "limits = [resource.getrlimit(getattr(resource, name)) for name in ('RLIMIT_NPROC', 'RLIMIT_FSIZE', 'RLIMIT_DATA', 'RLIMIT_CORE')]",
  "assert limits == [(512, 512), (4 << 30, 4 << 30), (8 << 30, 8 << 30), (0, 0)], limits",
].join("\n");

let node: SshdNode;
let server: CheckerServer;

beforeAll(async () => {
  node = await startSshd({ user: BOMBED_NODE_USER });
  server = await startCheckerServer({ nodes: [nodeSettings(node)] });
}, 300_000);

afterAll(async () => {
  await server?.stop();
  await node?.dispose();
});

/** `ps` of every process of the login, zombies included; "" when there is none. */
async function loginProcesses(): Promise<string> {
  const listing = await runCommand(["ps", "-U", BOMBED_NODE_USER, "-o", "pid=,stat=,args="], { env: cleanEnv(), cwd: "/" });
  return listing.stdout.trim();
}

test("an import that forks without end fails on the process limit, and the node checks the next file as before", async () => {
  const bomb = await addFile(server, await buildFixture({ fixture: "fork-bomb" }));
  const { state, byPython } = await waitForMatrix(server, bomb, 2);
  expect(state.verification).toBe("failed");
  expect([byPython["3.11"].verdict, byPython["3.11"].reason]).toEqual(["failed", "import fork_bomb failed: BlockingIOError: [Errno 11] Resource temporarily unavailable"]);
  expect([byPython["2.7"].verdict, byPython["2.7"].reason]).toEqual(["failed", "import fork_bomb failed: OSError: [Errno 11] Resource temporarily unavailable"]);
  expect(byPython["3.11"].check?.log).toContain("limits of each child: RLIMIT_NPROC 512, RLIMIT_FSIZE 4294967296, RLIMIT_DATA 8589934592, RLIMIT_CORE 0");

  // Nothing of the bomb is left, not even the processes it forked, which ended with their parents' deaths.
  await eventually("no process of the login left", async (seen) => {
    seen.last = await loginProcesses();
    return seen.last === "" ? true : undefined;
  }, 30_000);
  const health = await nodeHealth(server, "clean-1");
  expect([health?.healthy, health?.lastError]).toEqual([true, ""]);

  const next = await addFile(server, await buildWheel("dep-b"));
  expect((await waitForMatrix(server, next, 2)).state.verification).toBe("verified");
  const operator = { kind: "system", name: "limits-test" } as const;
  server.services.smokeChecks.set(operator, "dep-b", LIMITS_SMOKE_CHECK);
  server.services.checks.request(operator, next);
  const { byPython: smoked } = await waitForMatrix(server, next, 2);
  for (const python of ["3.11", "2.7"]) {
    expect([python, smoked[python].verdict, smoked[python].reason]).toEqual([python, "verified", "installed and imported 1 modules; the smoke check passed"]);
  }
}, 600_000);
