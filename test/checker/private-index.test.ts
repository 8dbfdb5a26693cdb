// With access.anonymous_read = false, a check reads the index with a credential of its own: made
// for that run of the check, refused once it ends, reading only what the file's uploader may read,
// and in no process's arguments, no environment and no log. A real sshd node; real pip installs
// the wheel's dependency from the private staging index with it.
import { readFileSync, rmSync } from "node:fs";
import { basename, join } from "node:path";
import { afterAll, beforeAll, expect, test } from "vitest";
import { buildFixture, nodeSettings, startCheckerServer, uploaderToken, waitForVerdict, type CheckerServer } from "../support/checker.js";
import { twineUpload } from "../support/clients.js";
import { expectOk } from "../support/commands.js";
import { buildEgg, buildWheel } from "../support/packages.js";
import { startSshd, type SshdNode } from "../support/sshd.js";

let node: SshdNode;
let server: CheckerServer;
let token: string;
let authorization: string;

beforeAll(async () => {
  node = await startSshd();
  server = await startCheckerServer({ nodes: [nodeSettings(node)], access: { anonymous_read: false } });
  token = await uploaderToken(server, "alice");
  authorization = `Basic ${Buffer.from(`__token__:${token}`).toString("base64")}`;
  // demo-pkg is bob's, and alice may not read it.
  const bobs = await uploaderToken(server, "bob");
  expectOk(await twineUpload(`${server.url}/legacy/`, [await buildWheel("demo-pkg")], { username: "__token__", password: bobs }));
  const files = await Promise.all([buildWheel("dep-a"), buildWheel("dep-b")]);
  expectOk(await twineUpload(`${server.url}/legacy/`, files, { username: "__token__", password: token }));
}, 300_000);

afterAll(async () => {
  await server?.stop();
  await node?.dispose();
});

test("a wheel and its dependency are checked through the private index with the check's own credential, kept out of the log", async () => {
  const filename = basename(await buildWheel("dep-a"));
  const { state, check } = await waitForVerdict({ url: server.url, log: server.log, authorization }, filename, 120_000);
  expect([state.verification, check.reason]).toEqual(["verified", "installed and imported 1 modules"]);
  // pip fetched dep-b from the staging index: a page and a file that need credentials.
  expect(check.log).toMatch(/Successfully installed dep-a-1\.0 dep-b-1\.0|Successfully installed dep-b-1\.0 dep-a-1\.0/);
  expect(check.log).not.toMatch(/pydepot-check-[A-Za-z0-9_-]{40}/);
  expect(check.log).not.toMatch(/__token__/);
  // Without credentials, the index answers nobody.
  expect((await fetch(`${server.url}/staging/simple/dep-b/`)).status).toBe(401);
});

test("an egg: easy_install fetches its dependency through the private index with the same credential", async () => {
  const egg = await buildEgg("dep-a");
  expectOk(await twineUpload(`${server.url}/legacy/`, [egg], { username: "__token__", password: token }));
  const { state, check } = await waitForVerdict({ url: server.url, log: server.log, authorization }, basename(egg), 120_000);
  expect([state.verification, check.reason]).toEqual(["verified", "installed and imported 1 modules"]);
  expect(check.log).toMatch(/dep-b/i);
  expect(check.log).not.toMatch(/pydepot-check-[A-Za-z0-9_-]{40}/);
});

test("code from the file finds the credential, reads only what its uploader may read with it, and cannot use it once its check has ended", async () => {
  const wheel = await buildFixture({ fixture: "credential-reader" });
  const filename = basename(wheel);
  expectOk(await twineUpload(`${server.url}/legacy/`, [wheel], { username: "__token__", password: token }));
  const { state, check } = await waitForVerdict({ url: server.url, log: server.log, authorization }, filename, 120_000);
  expect(state.verification).toBe("verified");
  const folder = /^check of \S+ on Python \S+ \(\S+\) in (\S+)$/m.exec(check.log)![1];
  const reportFile = join("/tmp", `pydepot-credential-${basename(folder)}.json`);
  const found = JSON.parse(readFileSync(reportFile, "utf8")) as { credential: string; own: number; private: number };
  rmSync(reportFile);
  expect(found.credential).toMatch(/^pydepot-check-[A-Za-z0-9_-]{43}$/);
  expect([found.own, found.private]).toEqual([200, 404]);
  const after = await fetch(`${server.url}/staging/simple/dep-b/`, { headers: { Authorization: `Basic ${Buffer.from(`__token__:${found.credential}`).toString("base64")}` } });
  expect(after.status).toBe(401);
  expect(await after.text()).toContain("Unknown or expired check credential: it is valid only while its check runs");
});
