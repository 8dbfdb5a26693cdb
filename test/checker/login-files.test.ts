// The node fingerprint covers the login's own files that run, or decide what runs, around a
// check's command: on a login with a home folder, an SSH key, an ~/.ssh/rc or the loss of a file
// between two checks quarantines the node with the file named, and nothing of the next check runs
// there until the node is probed again.
import { spawnSync } from "node:child_process";
import { appendFileSync, chownSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, expect, test } from "vitest";
import {
  addFile,
  buildFixture,
  eventually,
  fileChecks,
  listed,
  nodeHealth,
  nodeSettings,
  runCli,
  startCheckerServer,
  strangerKey,
  temporaryFolder,
  waitForCheck,
  type CheckerServer,
  type NodeSettings,
} from "../support/checker.js";
import { cleanEnv, expectOk, runCommand } from "../support/commands.js";
import { buildWheel } from "../support/packages.js";
import { startSshd, type SshdNode } from "../support/sshd.js";
import { HOME_NODE_HOME, HOME_NODE_USER, userIds } from "../support/unprivileged.js";

const sshFolder = join(HOME_NODE_HOME, ".ssh");
const authorizedKeys = join(sshFolder, "authorized_keys");
const rc = join(sshFolder, "rc");
/** What the node's own administrator keeps in the login's authorized_keys. */
const ownKeys = "# the node administrator's keys (sshd of this test reads its own AuthorizedKeysFile)\n";

let node: SshdNode;
let config: NodeSettings;
let server: CheckerServer;
/** A public key line of nobody this node knows. */
let strangerLine: string;
let owner: { uid: number; gid: number };

beforeAll(async () => {
  // What an earlier run left: the login's home starts with its authorized_keys only.
  rmSync(sshFolder, { recursive: true, force: true });
  owner = userIds(HOME_NODE_USER);
  mkdirSync(sshFolder, { mode: 0o700 });
  chownSync(sshFolder, owner.uid, owner.gid);
  writeFileSync(authorizedKeys, ownKeys);
  chownSync(authorizedKeys, owner.uid, owner.gid);
  strangerLine = await publicKeyLine(await strangerKey());
  node = await startSshd({ user: HOME_NODE_USER });
  config = nodeSettings(node);
  server = await startCheckerServer({ nodes: [config] });
}, 300_000);

afterAll(async () => {
  await server?.stop();
  await node?.dispose();
  rmSync(sshFolder, { recursive: true, force: true });
  removeScheduledJobs();
});

/** The login's crontab and at jobs, as root removes them. */
function removeScheduledJobs(): void {
  spawnSync("crontab", ["-r", "-u", HOME_NODE_USER], { stdio: "ignore" });
  const jobs = spawnSync("atq", [], { encoding: "utf8" }).stdout.split("\n").filter((line) => line.trim().split(/\s+/).at(-1) === HOME_NODE_USER);
  if (jobs.length > 0) spawnSync("atrm", jobs.map((line) => line.split(/\s+/)[0]));
}

async function publicKeyLine(privateKey: Buffer): Promise<string> {
  const file = join(temporaryFolder("stranger-public"), "id_ed25519");
  writeFileSync(file, privateKey, { mode: 0o600 });
  return expectOk(await runCommand(["ssh-keygen", "-y", "-f", file], { env: cleanEnv(), cwd: dirname(file) })).stdout.trim();
}

/** A release of demo-pkg (a py2.py3 wheel: checked on 3.11 and 2.7) verified on the node as it is now. */
async function verifiedRelease(version: string): Promise<string> {
  const filename = await addFile(server, await buildWheel("demo-pkg", { version }));
  const { state } = await waitForCheck(server, filename, "verified", (check) => check.status === "verified", 120_000);
  expect(state.verification).toBe("verified");
  return filename;
}

/**
 * After `tamper`, the next release waits on the quarantined node with `change` as the one change
 * named, nothing of its check ran, the node's health says so, and the release verified before
 * goes back to pending. Then the administrator's cleaning and probe let both be verified again.
 */
async function quarantinedBy(before: string, version: string, change: string, tamper: () => void, clean: () => void): Promise<void> {
  tamper();
  const filename = await addFile(server, await buildWheel("demo-pkg", { version }));
  const { state, check } = await waitForCheck(server, filename, "pending on the quarantined node", (candidate) => candidate.status === "pending" && /is quarantined/.test(candidate.reason), 60_000);
  expect(check.reason).toMatch(/^node clean-1 is quarantined: the start-up files of \S+ changed since the probe: /);
  expect(check.reason).toContain(`changed since the probe: ${change} (clean it, then run \`pydepot node probe clean-1\`)`);
  // check.py refused before downloading: no log, no module imported, no verdict.
  expect([state.verification, check.log, check.modules, check.finishedAt]).toEqual(["pending", "", [], null]);
  expect(state.checks.every((each) => each.status === "pending" && each.log === "")).toBe(true);
  const health = await nodeHealth(server, "clean-1");
  expect([health?.healthy, health?.lastError]).toEqual([false, check.reason]);
  expect((await fileChecks(server, before)).verification).toBe("pending");
  const shown = await listed(server.index, "demo-pkg");
  expect([shown.includes(before), shown.includes(filename)]).toEqual([false, false]);

  clean();
  expectOk(await runCli(server, config, ["node", "probe", "clean-1"]));
  for (const each of [before, filename]) {
    await waitForCheck(server, each, "verified once the node is clean", (candidate) => candidate.status === "verified", 120_000);
  }
  await eventually("both releases listed", async () => {
    const shown = await listed(server.index, "demo-pkg");
    return shown.includes(before) && shown.includes(filename) ? true : undefined;
  }, 30_000);
}

test("a key added to the login's authorized_keys between checks quarantines the node, naming the file", async () => {
  const before = await verifiedRelease("6.0");
  await quarantinedBy(
    before,
    "6.1",
    `${authorizedKeys} changed`,
    () => appendFileSync(authorizedKeys, `${strangerLine}\n`),
    () => writeFileSync(authorizedKeys, ownKeys),
  );
}, 300_000);

test("an ~/.ssh/rc that appears between checks quarantines the node, naming the file", async () => {
  const before = await verifiedRelease("6.2");
  await quarantinedBy(
    before,
    "6.3",
    `${rc} added`,
    // sshd runs it before every command of the login from now on.
    () => writeFileSync(rc, ": planted between two checks\n"),
    () => rmSync(rc),
  );
}, 300_000);

test("a login file that disappears between checks quarantines the node too", async () => {
  const before = await verifiedRelease("6.4");
  await quarantinedBy(
    before,
    "6.5",
    `${authorizedKeys} removed`,
    () => rmSync(authorizedKeys),
    () => {
      writeFileSync(authorizedKeys, ownKeys);
      chownSync(authorizedKeys, owner.uid, owner.gid);
    },
  );
}, 300_000);

test("a cron or at job a check leaves (it would run during later checks) fails that check and quarantines the node, naming both", async () => {
  const changes = `the login's at queue (atq of ${HOME_NODE_USER}) added; the login's crontab (crontab -l of ${HOME_NODE_USER}) added`;
  const planter = await addFile(server, await buildFixture({ fixture: "job-planter" }));
  const { state, check } = await waitForCheck(server, planter, "failed", (candidate) => candidate.status === "failed", 120_000);
  expect(state.verification).toBe("failed");
  expect(check.reason).toBe(`the check changed the node: ${changes}`);
  expect((await nodeHealth(server, "clean-1"))?.lastError).toContain(`: ${changes} (clean it, then run \`pydepot node probe clean-1\`)`);
  expect(await listed(server.index, "job-planter")).toEqual([]);

  // Cleaned by the node's administrator, and probed: the gate works again.
  removeScheduledJobs();
  expectOk(await runCli(server, config, ["node", "probe", "clean-1"]));
  await verifiedRelease("6.6");
}, 300_000);
