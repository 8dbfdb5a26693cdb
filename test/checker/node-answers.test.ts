// What a node answers is data from a machine that runs untrusted code: a last line that is JSON
// but no verdict (a hostile node, or an artifact's code that wrote to the check's own output)
// leaves the check pending with the reason, as any other answer without a verdict does. It must
// not be recorded as a verdict, nor leave the check running for ever. The same for a probe's
// answer: an interpreter path that names another program leaves the checks waiting with why.
import { chmodSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { addFile, interceptingPython, nodeSettings, startCheckerServer, temporaryFolder, waitForCheck, waitForVerdict, type CheckerServer } from "../support/checker.js";
import { buildWheel } from "../support/packages.js";
import { startSshd, type SshdNode } from "../support/sshd.js";
import { sharedPython } from "../support/unprivileged.js";

let node: SshdNode;
let wheel: string;
const servers: CheckerServer[] = [];

beforeAll(async () => {
  node = await startSshd();
  wheel = await buildWheel("dep-b");
}, 300_000);

afterAll(async () => {
  for (const server of servers) await server.stop();
  await node?.dispose();
});

/** Prints `answer` as the check's last line, then ends with `ending`; the probe is Python 3.11's own. */
function answering(answer: string, ending = "exit 0"): string {
  return interceptingPython("Proves that one egg or wheel installs", `printf '%s\\n' '${answer}'; ${ending}`);
}

/** An "interpreter" that answers every script, the probe too, with `answer`. */
function probing(answer: string): string {
  const folder = temporaryFolder("probing");
  chmodSync(folder, 0o755);
  const script = join(folder, "python3.11");
  writeFileSync(script, `#!/bin/sh\ncat > /dev/null\nprintf '%s\\n' '${answer}'\n`, { mode: 0o755 });
  return script;
}

describe("a node's last line that is JSON but no verdict", () => {
  const forged = { before: [], after: [] };
  const answers: [string, unknown][] = [
    ["null", null],
    ["a list", [1, 2]],
    ["a verdict without its reason, log or modules", { verdict: "verified", startup_changes: forged }],
    ["an unknown verdict", { verdict: "trusted", reason: "ok", log: "", modules: [], missing_libraries: [], degraded: false, duration: 1, startup_changes: forged }],
  ];
  test.each(answers)("%s: the check waits with the reason, nothing is recorded as a verdict", async (_label, answer) => {
    const server = await startCheckerServer({ nodes: [nodeSettings(node, { interpreters: [answering(JSON.stringify(answer))] })] });
    servers.push(server);
    const filename = await addFile(server, wheel);
    const { state, check } = await waitForCheck(server, filename, "pending, the node's answer refused", (row) => row.status === "pending" && row.reason !== "", 60_000);
    expect(check.reason).toMatch(/^check could not run on clean-1: the node's answer is no verdict: /);
    expect(state.verification).toBe("pending");
    await server.stop();
  }, 120_000);
});

describe("a whole verified answer from a check script that did not end by itself", () => {
  const verified = {
    verdict: "verified",
    reason: "installed and imported 1 modules",
    log: "",
    modules: [{ name: "dep_b", ok: true, counted: true, returncode: 0, signal: null, output: "" }],
    missing_libraries: [],
    degraded: false,
    duration: 1,
    startup_changes: { before: [], after: [] },
  };
  // An import that wrote into check.py's output and then killed it would leave exactly this
  // (the login's shell reports its command's death by SIGKILL as exit 137).
  test.each([
    ["killed", "kill -KILL $$", "exit 137"],
    ["exit status 1", "exit 1", "exit 1"],
  ])("%s: the check waits with the reason, the answer is not taken", async (_label, ending, said) => {
    const server = await startCheckerServer({ nodes: [nodeSettings(node, { interpreters: [answering(JSON.stringify(verified), ending)] })] });
    servers.push(server);
    const filename = await addFile(server, wheel);
    const { state, check } = await waitForCheck(server, filename, "pending, the answer not taken", (row) => row.status === "pending" && row.reason !== "", 60_000);
    // The reason's first line; the node's output follows it.
    expect(check.reason.split("\n")[0]).toBe(`check could not run on clean-1: no verdict from the check script (${said})`);
    expect(state.verification).toBe("pending");
    await server.stop();
  }, 120_000);
});

describe("an interpreter whose probe answer is no probe", () => {
  const cases: [string, string][] = [
    ["a program that prints nothing (/bin/true configured as the interpreter)", "/bin/true"],
    ["JSON without the probe's facts", probing(JSON.stringify({ version: 3 }))],
  ];
  test.each(cases)("%s: the check waits, naming the node and the interpreter", async (_label, interpreter) => {
    const server = await startCheckerServer({ nodes: [nodeSettings(node, { interpreters: [interpreter] })] });
    servers.push(server);
    const filename = await addFile(server, wheel);
    const { check } = await waitForCheck(server, filename, "pending, the probe refused", (row) => row.status === "pending" && row.reason !== "", 60_000);
    expect(check.reason).toMatch(new RegExp(`^node clean-1: the probe of ${interpreter} answered no probe \\(.+\\): is it a Python interpreter\\?$`));
    await server.stop();
  }, 120_000);
});

test("the answer of check.py itself is taken: the file is verified", async () => {
  const server = await startCheckerServer({ nodes: [nodeSettings(node, { interpreters: [sharedPython("3.11")] })] });
  servers.push(server);
  const filename = await addFile(server, wheel);
  const { state, check } = await waitForVerdict(server, filename);
  expect([state.verification, check.status, check.reason]).toEqual(["verified", "verified", "installed and imported 1 modules"]);
  await server.stop();
}, 120_000);
