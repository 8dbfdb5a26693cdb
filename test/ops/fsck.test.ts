// `pydepot fsck` on a store damaged on purpose, each damage of its own kind: it finds every one,
// changes nothing without --repair, and with it repairs only what is safe, never touching a
// file that a row points to (except a .metadata file rebuilt to its recorded hash).
import { appendFileSync, existsSync, linkSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { sdist, wheel, type Artifact, type Wheel } from "../support/artifacts.js";
import { expectOk } from "../support/commands.js";
import { pydepot } from "../support/farm.js";
import { startTestServer, type TestServer } from "../support/server.js";
import { heldUpload } from "../support/held-upload.js";
import { api, publish, tokenAuth } from "../http/requests.js";

/** No process has this id (Linux pids stop at 2^22), so what it left in tmp/ is a leftover. */
const DEAD_PID = 2147483646;

let server: TestServer;
let token: string;
let files: string;
let missing: Wheel;
let grown: Wheel;
let flipped: Wheel;
let badMetadata: Wheel;
let deleted: Artifact;
let intact: Artifact;
const before = new Map<string, Buffer>();

beforeAll(async () => {
  server = await startTestServer();
  token = await server.userToken("alice");
  [missing, grown, flipped, badMetadata] = await Promise.all(["1", "2", "3", "4"].map((minor) => wheel({ name: "damaged", version: `1.${minor}` })));
  deleted = await wheel({ name: "damaged", version: "1.5" });
  intact = await sdist({ name: "damaged", version: "1.6" });
  await publish(server, token, missing, grown, flipped, badMetadata, deleted, intact);
  files = join(server.storage, "files");
});

/** The damage, done once the intact store has been checked. */
async function damage(): Promise<void> {
  rmSync(join(files, "damaged", missing.filename));
  appendFileSync(join(files, "damaged", grown.filename), "tail");
  const bytes = readFileSync(join(files, "damaged", flipped.filename));
  bytes[bytes.length >> 1] ^= 0xff;
  writeFileSync(join(files, "damaged", flipped.filename), bytes);
  writeFileSync(join(files, "damaged", `${badMetadata.filename}.metadata`), "Metadata-Version: 2.1\nName: forged\n");
  // A delete whose unlink never happened: the row says deleted, the file is still there.
  expect((await api(server, "DELETE", `/api/projects/damaged/files/${deleted.filename}`, { auth: tokenAuth(token) })).status).toBe(200);
  writeFileSync(join(files, "damaged", deleted.filename), deleted.bytes);
  mkdirSync(join(files, "stray"));
  writeFileSync(join(files, "stray", "stray-1.0.tar.gz"), "nobody recorded me");
  // A crash mid-publish: staged file, its note and its link under files/, no row.
  const tmp = join(server.storage, "tmp");
  writeFileSync(join(tmp, `${DEAD_PID}-aaaa`), "half published");
  writeFileSync(join(tmp, `${DEAD_PID}-aaaa.dest`), join("ghost", "ghost-1.0.tar.gz"));
  mkdirSync(join(files, "ghost"));
  linkSync(join(tmp, `${DEAD_PID}-aaaa`), join(files, "ghost", "ghost-1.0.tar.gz"));
  writeFileSync(join(tmp, `${DEAD_PID}-bbbb`), "a staged upload whose process died");
  for (const name of [missing, grown, flipped, intact].map((artifact) => artifact.filename)) {
    if (existsSync(join(files, "damaged", name))) before.set(name, readFileSync(join(files, "damaged", name)));
  }
}

afterAll(() => server?.stop());

const line = (output: string, kind: string, path: string) => output.split("\n").find((text) => text.startsWith(kind.padEnd(10)) && text.includes(` ${path}:`));

describe("pydepot fsck on an intact store", () => {
  test("finds no problem, also while uploads are being staged", async () => {
    const uploads = await Promise.all(
      ["2.0", "2.1", "2.2"].map(async (version) => heldUpload(server.uploadUrl, await wheel({ name: "arriving", version }), tokenAuth(token))),
    );
    expect(expectOk(await pydepot(["fsck"], server.storage)).stdout).toBe("no problems: the files and the database agree\n");
    for (const upload of uploads) expect(await upload.finish()).toBe(200);
    expect(expectOk(await pydepot(["fsck"], server.storage)).stdout).toBe("no problems: the files and the database agree\n");
  });
});

describe("pydepot fsck on a store damaged on purpose", () => {
  beforeAll(damage);

  test("reports each damage, one line each, and changes nothing", async () => {
    const result = await pydepot(["fsck"], server.storage);
    expect(result.code, result.stderr).toBe(1);
    const out = result.stdout;
    expect(line(out, "missing", `damaged/${missing.filename}`)).toMatch(/recorded but not on disk$/);
    expect(line(out, "size", `damaged/${grown.filename}`)).toMatch(new RegExp(`${grown.bytes.length + 4} bytes, recorded ${grown.bytes.length}$`));
    expect(line(out, "sha256", `damaged/${flipped.filename}`)).toMatch(/sha256 [0-9a-f]{64}, recorded [0-9a-f]{64}$/);
    expect(line(out, "metadata", `damaged/${badMetadata.filename}.metadata`)).toMatch(/sha256 [0-9a-f]{64}, recorded/);
    expect(line(out, "unrecorded", `damaged/${deleted.filename}`)).toMatch(/its row says the file was deleted$/);
    expect(line(out, "unrecorded", "stray/stray-1.0.tar.gz")).toMatch(/no row records it$/);
    expect(line(out, "unrecorded", "ghost/ghost-1.0.tar.gz")).toBeDefined();
    expect(line(out, "leftover", `tmp/${DEAD_PID}-bbbb`)).toBeDefined();
    expect(line(out, "leftover", `tmp/${DEAD_PID}-aaaa.dest`)).toBeDefined();
    expect(out).toMatch(/^10 problem\(s\), 0 repaired, 10 left$/m);
    expect(existsSync(join(files, "stray", "stray-1.0.tar.gz"))).toBe(true);
    expect(existsSync(join(server.storage, "tmp", `${DEAD_PID}-bbbb`))).toBe(true);
  });

  test("--repair moves unrecorded files aside, sweeps tmp/, rebuilds .metadata; rows' files stay as they are", async () => {
    const result = await pydepot(["fsck", "--repair"], server.storage);
    expect(result.code, result.stderr).toBe(1);
    const out = result.stdout;
    expect(line(out, "unrecorded", "stray/stray-1.0.tar.gz")).toMatch(/\(repaired: moved to .*lost\+found\/stray\/stray-1\.0\.tar\.gz\)$/);
    expect(line(out, "metadata", `damaged/${badMetadata.filename}.metadata`)).toMatch(/\(repaired: rebuilt from the wheel/);
    expect(line(out, "leftover", `tmp/${DEAD_PID}-bbbb`)).toMatch(/\(repaired: removed\)$/);
    expect(line(out, "missing", `damaged/${missing.filename}`)).not.toMatch(/repaired/);
    expect(out).toMatch(/^10 problem\(s\), 7 repaired, 3 left$/m);
    expect(readFileSync(join(server.storage, "lost+found", "stray", "stray-1.0.tar.gz"), "utf8")).toBe("nobody recorded me");
    expect(existsSync(join(files, "ghost", "ghost-1.0.tar.gz"))).toBe(false);
    expect(readFileSync(join(files, "damaged", `${badMetadata.filename}.metadata`)).equals(badMetadata.metadata)).toBe(true);
    for (const [name, bytes] of before) expect(readFileSync(join(files, "damaged", name)).equals(bytes), name).toBe(true);
    // Afterwards only what cannot be repaired safely is reported.
    const again = await pydepot(["fsck"], server.storage);
    expect(again.code).toBe(1);
    const kinds = again.stdout.trim().split("\n").slice(0, -1).map((text) => text.split(/\s+/)[0]).sort();
    expect(kinds).toEqual(["missing", "sha256", "size"]);
  });
});
