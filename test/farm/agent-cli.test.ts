// `pydepot agent` as an operator meets it: every mistake is one line saying what went wrong and
// what to do (never a stack), checked before the agent registers, so no agent is left "online"
// with no targets; the enrolment secret never travels in argv; the state folder is the agent's
// alone. And the node-login warning: a clean node that logs in as root is called out.
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { cleanEnv, runCommand, type ProcessResult } from "../support/commands.js";
import { pydepot } from "../support/farm.js";
import { waitFor } from "../support/farm-api.js";
import { findPython } from "../support/pythons.js";
import { startTestServer, type TestServer } from "../support/server.js";
import { claimBuildUser, releaseBuildUser, sharedPython } from "../support/unprivileged.js";

const MAIN = join(import.meta.dirname, "..", "..", "dist", "main.js");

let server: TestServer;
let work: string;
let buildUser: string;
let secret: string;

beforeAll(async () => {
  server = await startTestServer();
  work = mkdtempSync(join(tmpdir(), "pydepot-agent-cli-"));
  buildUser = claimBuildUser();
  secret = server.services.agents.createEnrolment("cli test", "test");
});
afterAll(async () => {
  await server?.stop();
  rmSync(work, { recursive: true, force: true });
  if (buildUser) releaseBuildUser(buildUser);
});

function agentArgs(name: string, extra: string[]): string[] {
  return [process.execPath, MAIN, "agent", "--server", server.url, "--name", name, "--state-dir", join(work, name, "state"), "--work-dir", join(work, name, "builds"), ...extra];
}

function agent(name: string, extra: string[], env: Record<string, string> = {}): Promise<ProcessResult> {
  return runCommand(agentArgs(name, extra), { env: cleanEnv(env), cwd: work, timeoutMs: 120_000 });
}

/** Exit status 2 and exactly this one line on stderr. */
function expectOneLine(result: ProcessResult, message: string | RegExp): void {
  expect({ code: result.code, lines: result.stderr.trimEnd().split("\n").length }, result.stderr).toEqual({ code: 2, lines: 1 });
  expect(result.stderr).not.toMatch(/^\s+at /m);
  expect(result.stderr.trimEnd()).toMatch(typeof message === "string" ? new RegExp(`^pydepot: ${message.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}$`) : message);
}

const registered = () => server.services.agents.list({ kind: "system", name: "test" }).map((row) => row.name);

describe("pydepot agent: mistakes are one line, caught before registering", () => {
  test("no build user, root as build user, an unknown user", async () => {
    expectOneLine(await agent("no-user", ["--python", sharedPython("3.11")]), /^pydepot: no --build-user: .*--build-user pydepot-build1, or --build-as-agent-user to accept the risk$/);
    expectOneLine(await agent("root-user", ["--build-user", "root"]), "--build-user root is root: builds run code from uploads, give each slot an unprivileged user of its own");
    expectOneLine(await agent("ghost-user", ["--build-user", "pydepot-nobody"]), /^pydepot: there is no user pydepot-nobody on this host: create it with `useradd --system --no-create-home --user-group pydepot-nobody`/);
  });

  test("an interpreter that does not exist, or that the build user cannot run", async () => {
    expectOneLine(await agent("no-python", ["--build-user", buildUser, "--python", "/opt/none/python3.99"], { PYDEPOT_ENROLMENT_SECRET: secret }), "--python /opt/none/python3.99: no such file; give the path of an installed interpreter");
    const rootOnly = findPython("3.11");
    expectOneLine(await agent("root-python", ["--build-user", buildUser, "--python", rootOnly], { PYDEPOT_ENROLMENT_SECRET: secret }), new RegExp(`^pydepot: --python ${rootOnly}: user ${buildUser} cannot run ${rootOnly}: `));
    expect(registered()).toEqual([]);
  });

  test("no token yet and no enrolment secret, or a secret the server refuses", async () => {
    const python = ["--build-user", buildUser, "--python", sharedPython("2.7")];
    expectOneLine(await agent("no-secret", python), /^pydepot: no token in \S+no-secret\.json: the first run needs an enrolment secret from `pydepot agents enrol` \(--enrolment-secret-file FILE, - for stdin, or \$PYDEPOT_ENROLMENT_SECRET\)$/);
    const wrongFile = join(work, "wrong-secret");
    writeFileSync(wrongFile, "pydepot-enrol-not-a-real-one\n", { mode: 0o600 });
    expectOneLine(await agent("refused", [...python, "--enrolment-secret-file", wrongFile]), "the server refused to register refused: POST /api/farm/register: 401 Unknown or revoked enrolment secret: ask an admin for `pydepot agents enrol`");
    expectOneLine(await agent("unreadable", [...python, "--enrolment-secret-file", join(work, "missing")]), `cannot read the enrolment secret from ${join(work, "missing")}: ENOENT`);
    expect(registered()).toEqual([]);
  });
});

describe("pydepot agent: the enrolment secret and the token", () => {
  test("the secret read from stdin is in no process's arguments; the token is kept in a 0700 folder, 0600 file", async () => {
    const child = spawn(process.execPath, agentArgs("stdin-agent", ["--build-user", buildUser, "--python", sharedPython("2.7"), "--enrolment-secret-file", "-"]).slice(1), {
      env: cleanEnv(),
      cwd: work,
      stdio: ["pipe", "pipe", "pipe"],
    });
    let output = "";
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
    try {
      child.stdin.end(`${secret}\n`);
      await waitFor("the agent to start building", async () => (output.includes("building for ") ? true : undefined), { describe: () => output });
      expect(readFileSync(`/proc/${child.pid}/cmdline`, "utf8")).not.toContain(secret);
      expect(registered()).toEqual(["stdin-agent"]);
      const state = join(work, "stdin-agent", "state");
      expect(statSync(state).mode & 0o777).toBe(0o700);
      expect(statSync(join(state, "stdin-agent.json")).mode & 0o777).toBe(0o600);
      expect(output).toContain(`building for egg-py2.7-linux-x86_64 in 1 slot(s)`);
    } finally {
      child.kill("SIGTERM");
      await new Promise((resolve) => (child.exitCode !== null ? resolve(null) : child.once("exit", resolve)));
    }
  });
});

describe("clean nodes", () => {
  test("`pydepot node probe` of a node that logs in as root warns plainly", async () => {
    const config = join(work, "root-node.toml");
    writeFileSync(
      config,
      [
        "[[nodes]]",
        'name = "rooted"',
        'host = "127.0.0.1"',
        "port = 1",
        'user = "root"',
        `private_key_file = "${join(work, "no-key")}"`,
        `host_key = "SHA256:${"A".repeat(43)}"`,
        `interpreters = ["/usr/bin/python3"]`,
        "",
      ].join("\n"),
    );
    const probe = await pydepot(["--config", config, "node", "probe", "rooted"], server.storage);
    expect(probe.stderr).toMatch(/WARNING: node rooted logs in as root: .*allow_root_login/);
  });
});
