// Debian's twine 4.0.2 uploading real sdists, wheels and eggs, and what it prints when pydepot
// refuses: twine shows the status and the reason phrase, never the body.
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { wheelWithMetadata } from "../support/artifacts.js";
import { expectOk, twineUpload, type Credentials } from "../support/clients.js";
import { buildEgg, buildSdist, buildWheel, type BuildOptions, type Fixture } from "../support/packages.js";
import { startTestServer, type TestServer } from "../support/server.js";
import { expectFailure, output, servedFile, servedFiles, sha256Of } from "./matrix.js";

interface Kind {
  readonly kind: string;
  readonly build: (fixture: Fixture, options?: BuildOptions) => Promise<string>;
}

/** Demo_Pkg 1.0 of each kind: three different filenames on one project. Uploading identical
 *  bytes again is a no-op, so every test starts by making sure its file is there. */
const KINDS: readonly Kind[] = [
  { kind: "sdist", build: buildSdist },
  { kind: "wheel", build: buildWheel },
  { kind: "egg", build: buildEgg },
];

let server: TestServer;
let uploader: Credentials;
/** A user with no role on any project. */
let outsider: Credentials;

beforeAll(async () => {
  server = await startTestServer();
  uploader = { username: "__token__", password: await server.userToken("uploader") };
  outsider = { username: "__token__", password: await server.userToken("outsider") };
});

afterAll(() => server?.stop());

/** The two builds of one kind: the same filename, different bytes (one also requires dep-b). */
async function sameNameTwoContents({ build }: Kind): Promise<{ original: string; other: string }> {
  const [original, other] = await Promise.all([build("demo-pkg"), build("demo-pkg", { requires: ["dep-b"] })]);
  expect(basename(other)).toBe(basename(original));
  expect(await sha256Of(other)).not.toBe(await sha256Of(original));
  return { original, other };
}

async function expectServedAsUploaded(path: string): Promise<void> {
  const served = await servedFile(server, "demo-pkg", path);
  expect(served.hashes.sha256).toBe(await sha256Of(path));
  const download = await fetch(new URL(served.url, `${server.index}demo-pkg/`));
  expect(download.status).toBe(200);
  expect(Buffer.from(await download.arrayBuffer()).equals(await readFile(path))).toBe(true);
}

// Concurrent: the kinds upload different files, and within a kind every test first makes sure
// the original is there (a no-op when it is), so no order is assumed.
describe.concurrent.each(KINDS)("twine upload of a $kind", (kind) => {
  it("succeeds, and the index serves the very same bytes", async () => {
    const { original } = await sameNameTwoContents(kind);
    const result = expectOk(await twineUpload(server.uploadUrl, [original], uploader));
    expect(result.stdout).toContain(`Uploading ${basename(original)}`);
    await expectServedAsUploaded(original);
  });

  it("of the identical file again succeeds, with or without --skip-existing, and changes nothing", async () => {
    const { original } = await sameNameTwoContents(kind);
    expectOk(await twineUpload(server.uploadUrl, [original], uploader));
    // pydepot answers identical bytes with 200 OK, as PyPI does: twine reports a plain success
    // (it prints "Skipping" only for a refusal it recognises, see the next test).
    for (const flags of [["--skip-existing"], []]) {
      const result = expectOk(await twineUpload(server.uploadUrl, [original], uploader, flags));
      expect(output(result)).not.toMatch(/error/i);
    }
    await expectServedAsUploaded(original);
  });

  it('of different bytes under the same name fails with "File already exists"; --skip-existing skips it', async () => {
    const { original, other } = await sameNameTwoContents(kind);
    expectOk(await twineUpload(server.uploadUrl, [original], uploader));

    const refused = expectFailure(await twineUpload(server.uploadUrl, [other], uploader));
    expect(refused).toContain("400 Bad Request");
    expect(refused).toContain(`File already exists ('${basename(other)}'`);

    const skipped = expectOk(await twineUpload(server.uploadUrl, [other], uploader, ["--skip-existing"]));
    expect(output(skipped)).toContain(`Skipping ${basename(other)} because it appears to already exist`);
    await expectServedAsUploaded(original);
  });
});

describe("twine refused", () => {
  it("with a wrong token: 401 and the reason phrase", async () => {
    expectOk(await twineUpload(server.uploadUrl, [await buildWheel("demo-pkg")], uploader));
    const file = await buildWheel("demo-pkg", { version: "4.0" });
    const result = await twineUpload(server.uploadUrl, [file], { username: "__token__", password: "pydepot-not-a-real-token" });
    const printed = expectFailure(result);
    expect(printed).toContain("HTTPError: 401 Unauthorized");
    expect(printed).toContain("Invalid or revoked API token");
    expect((await servedFiles(server, "demo-pkg")).map((served) => served.filename)).not.toContain(basename(file));
  });

  it("a wheel whose .dist-info folder is another project's (demo_pkg_utils): 400 and the reason phrase, nothing served", async () => {
    expectOk(await twineUpload(server.uploadUrl, [await buildWheel("demo-pkg")], uploader));
    const folder = await mkdtemp(join(tmpdir(), "pydepot-twine-"));
    try {
      const artifact = await wheelWithMetadata({ name: "demo_pkg", version: "6.0", distInfo: "demo_pkg_utils-6.0.dist-info" }, "Metadata-Version: 2.1\nName: demo-pkg\nVersion: 6.0\n");
      const file = join(folder, artifact.filename);
      await writeFile(file, artifact.bytes);
      const printed = expectFailure(await twineUpload(server.uploadUrl, [file], uploader));
      expect(printed).toContain("HTTPError: 400 Bad Request");
      expect(printed).toContain("its demo_pkg_utils-6.0.dist-info folder is not demo-pkg 6.0's, and pip would install the wheel as the distribution that folder names; name it demo_pkg-6.0.dist-info");
      expect((await servedFiles(server, "demo-pkg")).map((served) => served.filename)).not.toContain(artifact.filename);
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  });

  it("for a user without the upload role on the project: 403 and the reason phrase", async () => {
    // The uploader creates demo-pkg (and becomes its admin); the outsider has no role on it.
    expectOk(await twineUpload(server.uploadUrl, [await buildWheel("demo-pkg")], uploader));
    const file = await buildWheel("demo-pkg", { version: "5.0" });
    const printed = expectFailure(await twineUpload(server.uploadUrl, [file], outsider));
    expect(printed).toContain("HTTPError: 403 Forbidden");
    expect(printed).toContain("User outsider may not upload to project demo-pkg: ask a project admin for the upload role");
    expect((await servedFiles(server, "demo-pkg")).map((served) => served.filename)).not.toContain(basename(file));
  });
});
