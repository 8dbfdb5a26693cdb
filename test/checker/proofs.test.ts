// A pass is proven, not inferred: on the unprivileged test node, an import that fails but makes
// its process exit with status 0 is failed, and a daemon an import leaves behind (out of its
// session) is gone once the check has ended, with the check's folder.
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { addFile, buildFixture, listed, nodeSettings, startCheckerServer, waitForVerdict, type CheckerServer } from "../support/checker.js";
import { startSshd, type SshdNode } from "../support/sshd.js";

let node: SshdNode;
let server: CheckerServer;
let forger: string;
let daemon: string;

beforeAll(async () => {
  node = await startSshd();
  server = await startCheckerServer({ nodes: [nodeSettings(node)] });
  const [forgerPath, daemonPath] = await Promise.all([buildFixture({ fixture: "exit-forger" }), buildFixture({ fixture: "daemon-import" })]);
  forger = await addFile(server, forgerPath);
  daemon = await addFile(server, daemonPath);
}, 300_000);

afterAll(async () => {
  await server?.stop();
  await node?.dispose();
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

describe("everything a check started ends with it", () => {
  test("a daemon the import left outside its session is killed, and the check's folder is gone", async () => {
    const started = Date.now();
    const { state, check } = await waitForVerdict(server, daemon);
    expect(state.verification).toBe("verified");
    expect(check.log).toContain(", finished import proven]");
    expect(check.log).toMatch(/\[killed 1 process\(es\) the check left running outside its sessions\]/);
    // The daemon's pid file, written while the import waited for it (the node's /tmp is ours).
    const pidFiles = readdirSync("/tmp")
      .filter((name) => /^pydepot-daemon-\d+\.pid$/.test(name))
      .map((name) => join("/tmp", name))
      .filter((path) => statSync(path).mtimeMs >= started - 120_000);
    expect(pidFiles.length).toBeGreaterThan(0);
    for (const path of pidFiles) {
      const pid = Number(readFileSync(path, "utf8"));
      rmSync(path);
      expect(alive(pid), `daemon ${pid} from ${path}`).toBe(false);
    }
    const folder = /^check of \S+ on Python \S+ \(\S+\) in (\S+)$/m.exec(check.log)?.[1];
    expect(folder).toMatch(/^\/tmp\/pydepot-check-/);
    expect(existsSync(folder!)).toBe(false);
  });
});
