// A pass is proven, not inferred: on the unprivileged test node, an import that fails but makes
// its process exit with status 0 is failed, and a daemon an import leaves behind (out of its
// session) is gone once the check has ended, with the check's folder: found by its environment
// on a shared login, and whatever it did to its environment on an exclusive one.
import { spawn } from "node:child_process";
import { chownSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { wheel } from "../support/artifacts.js";
import { addFile, buildFixture, listed, nodeSettings, startCheckerServer, temporaryFolder, waitForVerdict, type CheckerServer } from "../support/checker.js";
import { startSshd, type SshdNode } from "../support/sshd.js";
import { buildWheel } from "../support/packages.js";
import { SOLE_NODE_USER, userIds } from "../support/unprivileged.js";

let node: SshdNode;
let server: CheckerServer;
/** A node whose login is SOLE_NODE_USER, which nothing else uses: exclusive_login = true. */
let soleNode: SshdNode;
let soleServer: CheckerServer;
let forger: string;
let answerForger: string;
let daemon: string;
let scrubbed: string;
let scrubbedShared: string;
let shadowed: string;

beforeAll(async () => {
  [node, soleNode] = await Promise.all([startSshd(), startSshd({ user: SOLE_NODE_USER })]);
  server = await startCheckerServer({ nodes: [nodeSettings(node)] });
  soleServer = await startCheckerServer({ nodes: [nodeSettings(soleNode, { exclusive_login: true })] });
  const [forgerPath, answerForgerPath, daemonPath, scrubbedPath] = await Promise.all(
    ["exit-forger", "answer-forger", "daemon-import", "daemon-scrubbed"].map((fixture) => buildFixture({ fixture })),
  );
  forger = await addFile(server, forgerPath);
  answerForger = await addFile(server, answerForgerPath);
  daemon = await addFile(server, daemonPath);
  scrubbed = await addFile(soleServer, scrubbedPath);
  scrubbedShared = await addFile(server, scrubbedPath);
  shadowed = await addFile(server, await shadowedWheel());
}, 300_000);

/**
 * A wheel that ships a pkg_resources of its own, as the setuptools wheel does. The check's site
 * folder already holds the bundled setuptools' pkg_resources, and `pip install --target` without
 * --upgrade kept that folder (with a warning, exit status 0): the setuptools wheel seeded on a
 * farm's index failed its check that way, left staging, and every wheel build after it failed.
 */
async function shadowedWheel(): Promise<string> {
  const { filename, bytes } = await wheel({
    name: "shadowed_install",
    version: "1.0",
    extraFiles: { "pkg_resources/__init__.py": "raise ImportError('shadowed_install: its pkg_resources refuses to be imported')\n" },
  });
  const path = join(temporaryFolder("artifact"), filename);
  writeFileSync(path, bytes);
  return path;
}

afterAll(async () => {
  await server?.stop();
  await soleServer?.stop();
  await node?.dispose();
  await soleNode?.dispose();
});

/** Running, as opposed to gone or a zombie nobody reaped (a container's init may not). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

describe("a failed import is never a pass", () => {
  test("an import that raises, then exits with status 0 from an atexit handler: failed, never listed", async () => {
    const { state, check } = await waitForVerdict(server, forger);
    expect(state.verification).toBe("failed");
    expect(check.reason).toBe(
      "import exit_forger failed: exit status 0 without proof that the import finished (ImportError: exit_forger: the fixture refuses to be imported)",
    );
    const module = check.modules.find((candidate) => candidate.name === "exit_forger");
    expect([module?.ok, module?.returncode]).toEqual([false, 0]);
    expect(check.log).toContain("[exit status 0 in");
    expect(check.log).toContain(", no proof that the import finished]");
    expect(await listed(server.index, "exit-forger")).toEqual([]);
  });
});

describe("a verdict is check.py's own", () => {
  test("an import that writes a verified answer into the check's output and kills the check cannot open that output: failed, never listed", async () => {
    const { state, check } = await waitForVerdict(server, answerForger);
    expect(state.verification).toBe("failed");
    expect(check.reason).toMatch(/^import answer_forger failed: PermissionError: \[Errno 13\] Permission denied: '\/proc\/\d+\/fd\/1'$/);
    expect(await listed(server.index, "answer-forger")).toEqual([]);
  });
});

/**
 * The pid of the daemon a check of daemon-import or daemon-scrubbed left, read from the file it
 * wrote in the node's /tmp (this machine's), named after the check's folder. Removes the file.
 */
function daemonOf(log: string): number {
  const path = join("/tmp", `pydepot-daemon-${basename(folderOf(log))}.pid`);
  const pid = Number(readFileSync(path, "utf8"));
  rmSync(path);
  return pid;
}

/** The check's folder on the node, as its log names it. */
function folderOf(log: string): string {
  const folder = /^check of \S+ on Python \S+ \(\S+\) in (\S+)$/m.exec(log)?.[1];
  expect(folder).toMatch(/^\/tmp\/pydepot-check-/);
  return folder!;
}

describe("an install passes only when it installed the artifact's own files", () => {
  test("a folder the check's environment already has is replaced by the artifact's, which is what gets judged", async () => {
    const { state, check } = await waitForVerdict(server, shadowed);
    expect(check.log).not.toMatch(/Target directory \S+ already exists/);
    expect(check.log).toContain("every file of shadowed_install-1.0-py3-none-any.whl is installed with the artifact's bytes");
    // Its own pkg_resources is imported, not the one it would have hidden behind.
    expect(check.reason).toBe("import pkg_resources failed: ImportError: shadowed_install: its pkg_resources refuses to be imported");
    expect(state.verification).toBe("failed");
    expect(await listed(server.index, "shadowed-install")).toEqual([]);
  });
});

describe("everything a check started ends with it", () => {
  test("a daemon the import left outside its session is killed, and the check's folder is gone", async () => {
    const { state, check } = await waitForVerdict(server, daemon);
    expect(state.verification).toBe("verified");
    expect(check.log).toContain(", finished import proven]");
    expect(check.log).toContain("[killed 1 process(es) the check left running outside its sessions]");
    const pid = daemonOf(check.log);
    expect(alive(pid), `daemon ${pid}`).toBe(false);
    expect(existsSync(folderOf(check.log))).toBe(false);
  });

  test("on an exclusive login, a daemon that emptied its environment is killed too", async () => {
    const { state, check } = await waitForVerdict(soleServer, scrubbed);
    expect(state.verification).toBe("verified");
    // The daemon, and the exited middle process when nothing has reaped it yet (a container's init).
    expect(check.log).toMatch(/\[killed [1-9]\d* process\(es\) the check left running outside its sessions\]/);
    const pid = daemonOf(check.log);
    expect(alive(pid), `daemon ${pid}`).toBe(false);
    expect(existsSync(folderOf(check.log))).toBe(false);
  });

  test("on a login shared with other work (Linux), a daemon that emptied its environment is killed too: it is still the check's descendant", async () => {
    const { state, check } = await waitForVerdict(server, scrubbedShared);
    expect(state.verification).toBe("verified");
    expect(check.log).toContain("[killed 1 process(es) the check left running outside its sessions]");
    const pid = daemonOf(check.log);
    expect(alive(pid), `daemon ${pid}`).toBe(false);
    expect(existsSync(folderOf(check.log))).toBe(false);
  });

  test("on an exclusive login, what a check that could not end left (a process, its folder) is removed by the next check", async () => {
    // As a check cut off mid-run leaves them: a process of the login, and a folder of its own.
    const leftover = spawn("sleep", ["600"], { ...userIds(SOLE_NODE_USER), detached: true, stdio: "ignore" });
    const folder = mkdtempSync(join(tmpdir(), "pydepot-check-"));
    writeFileSync(join(folder, "output.txt"), "cut off\n");
    const { uid, gid } = userIds(SOLE_NODE_USER);
    for (const path of [folder, join(folder, "output.txt")]) chownSync(path, uid, gid);
    try {
      const filename = await addFile(soleServer, await buildWheel("dep-b"));
      const { state } = await waitForVerdict(soleServer, filename);
      expect(state.verification).toBe("verified");
      // The universal wheel is checked on 2.7 and 3.11: the first of them to run does the cleaning.
      const logs = state.checks.map((check) => check.log).join("\n");
      expect(logs).toMatch(/^\[removed what an earlier check left: [1-9]\d* process\(es\), [1-9]\d* folder\(s\)\]$/m);
      expect(alive(leftover.pid!), `leftover ${leftover.pid}`).toBe(false);
      expect(existsSync(folder)).toBe(false);
    } finally {
      leftover.kill("SIGKILL");
      rmSync(folder, { recursive: true, force: true });
    }
  });
});
