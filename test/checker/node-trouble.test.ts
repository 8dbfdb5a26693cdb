// Node trouble never fails an artifact: a node that goes down mid-run, presents another host key
// or refuses our user key leaves the check pending with the node's error and the node marked
// unhealthy, and the check completes once the node (or its configuration) is right again.
import { existsSync, readdirSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import {
  addFile,
  buildFixture,
  eventually,
  fileChecks,
  listed,
  nodeHealth,
  nodeSettings,
  privateKeyFile,
  startCheckerServer,
  strangerKey,
  waitForCheck,
  waitForVerdict,
  wrongHostKey,
  type CheckerServer,
  type NodeSettings,
} from "../support/checker.js";
import { buildWheel } from "../support/packages.js";
import { startSshd, type SshdNode } from "../support/sshd.js";

let node: SshdNode;
const servers: CheckerServer[] = [];
let slowWheel: string;
let pureWheel: string;

beforeAll(async () => {
  node = await startSshd();
  [slowWheel, pureWheel] = await Promise.all([buildFixture({ fixture: "slow-import" }), buildWheel("dep-b")]);
}, 300_000);

afterAll(async () => {
  for (const server of servers) await server.stop();
  await node?.dispose();
});

async function serverWith(nodes: NodeSettings[], storage?: string, checker?: { retry_seconds: number }): Promise<CheckerServer> {
  const server = await startCheckerServer({ nodes, storage, checker });
  servers.push(server);
  return server;
}

/** Waits until the file's check is back to pending with a reason matching `reason`, and returns that reason. */
async function pendingWith(server: CheckerServer, filename: string, reason: RegExp): Promise<string> {
  const { state, check } = await withNodeLog(
    waitForCheck(server, filename, `pending with a reason matching ${reason}`, (check) => check.status === "pending" && reason.test(check.reason), 60_000),
  );
  expect(state.verification).toBe("pending");
  return check.reason;
}

/** A wait that failed says what the node said, too. */
async function withNodeLog<T>(wait: Promise<T>): Promise<T> {
  try {
    return await wait;
  } catch (error) {
    (error as Error).message += `\nsshd's log, last lines:\n${node.log().split("\n").slice(-30).join("\n")}`;
    throw error;
  }
}

/** GET /api/nodes shows the node unhealthy with an error matching `error`. */
async function unhealthy(server: CheckerServer, error: RegExp): Promise<string> {
  const health = await eventually(
    `clean-1 unhealthy with an error matching ${error}`,
    async (seen) => {
      const current = await nodeHealth(server, "clean-1");
      seen.last = current;
      return current && !current.healthy && error.test(current.lastError) ? current : undefined;
    },
    30_000,
  );
  return health.lastError;
}

/**
 * The folder the killed check left on the node (this machine; its sessions have no TMPDIR, so
 * Python's tempfile uses /tmp): check.py had no chance to remove it. Only folders of this test:
 * changed since it started, holding its file.
 */
function removeLeftovers(filename: string, since: number): void {
  for (const name of readdirSync("/tmp")) {
    const folder = join("/tmp", name);
    if (!name.startsWith("pydepot-check-") || statSync(folder).mtimeMs < since) continue;
    if (existsSync(join(folder, "download", filename))) rmSync(folder, { recursive: true, force: true });
  }
}

function commandSessions(sshd: SshdNode): number {
  return sshd.log().match(/Starting session: command/g)?.length ?? 0;
}

async function completes(server: CheckerServer, filename: string): Promise<void> {
  const { state, check } = await withNodeLog(waitForVerdict(server, filename));
  expect([state.verification, check.status, check.reason]).toEqual(["verified", "verified", "installed and imported 1 modules"]);
  const health = await nodeHealth(server, "clean-1");
  expect([health?.healthy, health?.lastError]).toEqual([true, ""]);
}

describe("the node is the problem, not the artifact", () => {
  test("the node stops mid-run: pending with the lost connection, completed after it is back", async () => {
    const started = Date.now();
    // Retries 3 s apart: time enough to see the first error before a retry replaces it.
    const server = await serverWith([nodeSettings(node)], undefined, { retry_seconds: 3 });
    const filename = await addFile(server, slowWheel);
    let down = false;
    try {
      // A new server probes each interpreter in a session of its own; the check's command is the
      // session after those. Once it has started, the check is installing or in its slow import.
      const probes = nodeSettings(node).interpreters.length;
      await eventually(
        "the node starts the check's command",
        async (seen) => {
          seen.last = node.log().split("\n").filter((line) => /Starting session|Close session/.test(line));
          return commandSessions(node) > probes ? true : undefined;
        },
        60_000,
      );
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      expect((await fileChecks(server, filename)).checks[0].status).toBe("running");
      await node.stop();
      down = true;
      // Which comes first is a race: the connection closing, or the session reporting that its
      // command was killed (sshd kills the command a moment before the session). The login's
      // /bin/sh (dash) reports its killed child as exit status 137 (128 + SIGKILL).
      const lost =
        /^(node clean-1: (the connection to 127\.0\.0\.1:\d+ closed before the command finished|lost the connection to 127\.0\.0\.1:\d+ during the command: \S+)$|check could not run on clean-1: no verdict from the check script \((killed by SIGKILL|exit 137)\)\n)/;
      const reason = await pendingWith(server, filename, lost);
      expect(reason).toMatch(lost);
      // A retry meanwhile may already have found no node at all (gate.test.ts waits for that one).
      await unhealthy(server, /closed before the command finished|lost the connection|ECONNREFUSED/);
      expect(await listed(server.index, "slow-import")).toEqual([]);
      expect(await listed(server.staging, "slow-import")).toEqual([filename]);

      await node.restart();
      down = false;
      await completes(server, filename);
      const { checks } = await fileChecks(server, filename);
      expect(checks).toHaveLength(1);
      expect(checks[0].log).toContain(`check of ${filename} on Python 3.11`);
      expect(await listed(server.index, "slow-import")).toEqual([filename]);
    } finally {
      removeLeftovers(filename, started);
      if (down) await node.restart(); // for the tests after this one
    }
  });

  test("a wrong host key: pending with both fingerprints, completed with the right one", async () => {
    const wrong = wrongHostKey(node);
    const misconfigured = await serverWith([nodeSettings(node, { host_key: wrong })]);
    const filename = await addFile(misconfigured, pureWheel);
    const expected = `the host key of 127.0.0.1:${node.port} does not match: expected ${wrong}, the server presented ${node.hostKeySha256}`;
    expect(await pendingWith(misconfigured, filename, /host key/)).toBe(`node clean-1: ${expected}`);
    expect(await unhealthy(misconfigured, /host key/)).toBe(`node clean-1: ${expected}`);
    expect(await listed(misconfigured.index, "dep-b")).toEqual([]);
    await misconfigured.stop();

    const fixed = await serverWith([nodeSettings(node)], misconfigured.storage);
    await completes(fixed, filename);
    expect(await listed(fixed.index, "dep-b")).toEqual([filename]);
  });

  test("a user key the node does not accept: pending with the refusal, completed with the right key", async () => {
    const stranger = await strangerKey();
    const misconfigured = await serverWith([nodeSettings(node, { private_key_file: privateKeyFile(stranger) })]);
    const filename = await addFile(misconfigured, pureWheel);
    const expected = `authentication failed for ${node.username}@127.0.0.1:${node.port}: the server accepted none of our keys`;
    expect(await pendingWith(misconfigured, filename, /authentication failed/)).toBe(`node clean-1: ${expected}`);
    expect(await unhealthy(misconfigured, /authentication failed/)).toBe(`node clean-1: ${expected}`);
    expect(node.log()).toMatch(/Failed publickey for \S+ from 127\.0\.0\.1/);
    await misconfigured.stop();

    const fixed = await serverWith([nodeSettings(node)], misconfigured.storage);
    await completes(fixed, filename);
  });
});
