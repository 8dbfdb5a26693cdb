// What a check concludes about one artifact, on a real OpenSSH node with Python 3.11 and 2.7:
// each case asserts the verdict and what the reason and the log say. Every file is added up
// front (the checks queue on the node, two at a time) and each test waits for its own verdict.
import { createHash } from "node:crypto";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { egg, wheel, type Artifact } from "../support/artifacts.js";
import {
  addFile,
  buildFixture,
  buildTestLibrary,
  listed,
  nodeSettings,
  startCheckerServer,
  uploaderToken,
  temporaryFolder,
  waitForVerdict,
  type CheckerServer,
} from "../support/checker.js";
import { buildWheel } from "../support/packages.js";
import { startSshd, type SshdNode } from "../support/sshd.js";

/** What a shell would create if a member name of odd_members ever reached one. */
const MEMBER_MARKER = `/tmp/pydepot-pwned-member-${process.pid}-${Date.now()}`;

let node: SshdNode;
let server: CheckerServer;
/** Fixture → the name of its file on the index. */
const files: Record<string, string> = {};

beforeAll(async () => {
  node = await startSshd();
  server = await startCheckerServer({ nodes: [nodeSettings(node, { parallel: 2 })] });
  // linked-ext finds libpdtest.so at build time through LIBRARY_PATH only: no rpath, so on the
  // node the library is on no path the loader searches.
  const library = await buildTestLibrary();
  const libraryFolder = library.slice(0, library.lastIndexOf("/"));
  const built = {
    importFails: buildFixture({ fixture: "import-fails" }),
    linkedExt: buildFixture({ fixture: "linked-ext", env: { LIBRARY_PATH: libraryFolder }, inputs: [library] }),
    lazyExt: buildFixture({ fixture: "lazy-ext" }),
    testExts: buildFixture({ fixture: "test-exts" }),
    corruptExt: writeArtifact(corruptExtensionWheel()),
    degraded: buildFixture({ fixture: "optional-ext" }),
    depB: buildWheel("dep-b"),
    depA: buildWheel("dep-a"),
    needsAbsent: buildFixture({ fixture: "needs-absent" }),
    localVersion: buildWheel("demo-pkg", { version: "1.0+local.7" }),
    epoch: buildWheel("demo-pkg", { version: "1!2.0" }),
    // setuptools lists in top_level.txt the packages a build then excluded.
    staleTopLevel: writeArtifact(wheel({ name: "stale_top", version: "1.0", topLevel: ["stale_top", "excluded_pkg"] })),
    staleTopLevelEgg: writeArtifact(egg({ name: "stale_top_egg", version: "1.0", python: "2.7", topLevel: ["stale_top_egg", "excluded_pkg"] })),
    oddMembers: writeArtifact(
      wheel({
        name: "odd_members",
        version: "1.0",
        extraFiles: { [`odd$(touch ${MEMBER_MARKER})/__init__.py`]: "", "odd`touch x`.py": "" },
      }),
    ),
  };
  for (const [key, path] of Object.entries(built)) files[key] = await addFile(server, await path);
}, 300_000);

afterAll(async () => {
  await server?.stop();
  await node?.dispose();
});

/** A wheel for CPython 3.11 whose extension module (imported only by broken_so.sub) is not ELF at all. */
async function corruptExtensionWheel() {
  return wheel({
    name: "broken_so",
    version: "1.0",
    tags: "cp311-cp311-linux_x86_64",
    extraFiles: {
      "broken_so/sub.py": "from broken_so import _native\n",
      "broken_so/_native.cpython-311-x86_64-linux-gnu.so": "This was an extension module until a transfer mangled it.\n",
    },
  });
}

async function writeArtifact(artifact: Promise<Artifact>): Promise<string> {
  const { filename, bytes } = await artifact;
  const path = join(temporaryFolder("artifact"), filename);
  writeFileSync(path, bytes);
  return path;
}

describe("failures name their cause", () => {
  test("a C extension linked against a library the node lacks: failed, naming libpdtest.so", async () => {
    const { state, check } = await waitForVerdict(server, files.linkedExt);
    expect(files.linkedExt).toBe("linked_ext-1.0-cp311-cp311-linux_x86_64.whl");
    expect(state.verification).toBe("failed");
    expect(check.status).toBe("failed");
    expect(check.missingLibraries).toEqual(["libpdtest.so"]);
    expect(check.reason).toContain("native libraries not found on the node: libpdtest.so");
    expect(check.log).toMatch(/libpdtest\.so => not found/);
    const native = check.modules.find((module) => module.name === "linked_ext._native");
    expect(native?.ok).toBe(false);
    expect(native?.output).toContain("libpdtest.so: cannot open shared object file");
    expect(await listed(server.index, "linked-ext")).toEqual([]);
    expect(await listed(server.staging, "linked-ext")).toEqual([]);
  });

  test("a wheel whose import raises: failed, with the traceback in the log", async () => {
    const { state, check } = await waitForVerdict(server, files.importFails);
    expect(state.verification).toBe("failed");
    expect(check.reason).toBe("import import_fails failed: RuntimeError: import_fails: the fixture refuses to be imported");
    expect(check.log).toContain("Traceback (most recent call last):");
    expect(check.log).toContain("in _load_configuration");
    expect(check.log).toContain("RuntimeError: import_fails: the fixture refuses to be imported");
    expect(check.missingLibraries).toEqual([]);
  });

  test("the top-level import works, but the extension a submodule loads has an undefined symbol: failed", async () => {
    const { state, check } = await waitForVerdict(server, files.lazyExt);
    expect(state.verification).toBe("failed");
    const byName = Object.fromEntries(check.modules.map((module) => [module.name, module]));
    expect(byName.lazy_ext?.ok).toBe(true);
    expect(byName["lazy_ext._native"]?.ok).toBe(false);
    expect(byName["lazy_ext._native"]?.output).toContain("undefined symbol: pdtest_symbol_nobody_defines");
    expect(check.reason).toContain("import lazy_ext._native failed");
    expect(check.reason).toContain("undefined symbol: pdtest_symbol_nobody_defines");
    // ldd finds every library: only importing the extension itself catches this one.
    expect(check.missingLibraries).toEqual([]);
  });

  test("the top-level import works, but the extension a submodule loads is not ELF: failed", async () => {
    const { state, check } = await waitForVerdict(server, files.corruptExt);
    expect(state.verification).toBe("failed");
    const byName = Object.fromEntries(check.modules.map((module) => [module.name, module]));
    expect(byName.broken_so?.ok).toBe(true);
    expect(byName["broken_so._native"]?.ok).toBe(false);
    expect(check.reason).toContain("import broken_so._native failed");
    expect(check.log).toMatch(/invalid ELF header|file too short/);
  });

  test("a wheel that needs a project the index does not have: unresolvable, naming the requirement, nothing asked beyond loopback", async () => {
    const { state, check } = await waitForVerdict(server, files.needsAbsent);
    expect(state.verification).toBe("failed");
    expect([check.status, check.cause]).toEqual(["failed", "unresolvable"]);
    expect(check.reason).toBe("dependency pydepot-absent-project>=1.0 has no file on the index that Python 3.11 installs");
    expect(check.log).toContain("No matching distribution found for pydepot-absent-project");
    // The only index pip was given is the staging index, by argument, with its config ignored.
    expect(check.log).toContain(`--index-url ${server.staging}`);
    expect(check.log).toContain("--isolated");
    const urls = [...check.log.matchAll(/\bhttps?:\/\/[^\s'"<>)]+/g)].map((match) => match[0]);
    expect(urls.length).toBeGreaterThan(0);
    expect(urls.filter((url) => !url.startsWith(`${server.url}/`))).toEqual([]);
    expect(check.log).not.toMatch(/pypi\.org|files\.pythonhosted\.org/);
  });
});

describe("what passes", () => {
  test("a platform-tagged wheel with no compiled code: verified, flagged degraded", async () => {
    const { state, check } = await waitForVerdict(server, files.degraded);
    expect(files.degraded).toBe("optional_ext-0.1-cp311-cp311-linux_x86_64.whl");
    expect([state.verification, state.degraded]).toEqual(["verified", true]);
    expect(check.degraded).toBe(true);
    expect(check.log).toContain("degraded: the file is tagged for platform linux_x86_64 but holds no compiled module");
    expect(await listed(server.index, "optional-ext")).toEqual([files.degraded]);
  });

  test("a wheel depending on another project of the index: verified, the dependency installed from staging", async () => {
    const { state, check } = await waitForVerdict(server, files.depA);
    expect(state.verification).toBe("verified");
    expect(check.reason).toBe("installed and imported 1 modules");
    expect(check.log).toContain(`--index-url ${server.staging}`);
    expect(check.log).toMatch(/Successfully installed dep-a-1\.0 dep-b-1\.0|Successfully installed dep-b-1\.0 dep-a-1\.0/);
    expect(check.modules.map((module) => [module.name, module.ok])).toEqual([["dep_a", true]]);
  });

  test("a local version (1.0+local.7) checks like any other", async () => {
    const { state, check } = await waitForVerdict(server, files.localVersion);
    expect(files.localVersion).toBe("Demo_Pkg-1.0+local.7-py2.py3-none-any.whl");
    expect(state.verification).toBe("verified");
    expect(check.log).toContain(`/files/demo-pkg/${files.localVersion}`);
    expect(await listed(server.index, "demo-pkg")).toContain(files.localVersion);
  });

  test("an epoch (1!2.0) checks like any other", async () => {
    const { state } = await waitForVerdict(server, files.epoch);
    expect(files.epoch).toBe("Demo_Pkg-1!2.0-py2.py3-none-any.whl");
    expect(state.verification).toBe("verified");
    expect(await listed(server.index, "demo-pkg")).toContain(files.epoch);
  });
});

describe("file names that carry shell syntax", () => {
  let uploadToken: string | undefined;
  const uploader = async (): Promise<string> => (uploadToken ??= await uploaderToken(server, "uploader"));
  const marker = `/tmp/pydepot-pwned-${process.pid}-${Date.now()}`;
  const crafted = [
    `x$(touch ${marker})-1.0-py3-none-any.whl`,
    `x\`touch ${marker}\`-1.0-py3-none-any.whl`,
    `x;touch ${marker};-1.0-py3-none-any.whl`,
    `x'$(touch ${marker})'-1.0-py2.7.egg`,
    `x-1.0-py2.7-$(touch ${marker}).egg`,
    `x-1.0-py3-none-any.whl;touch ${marker}`,
    `x|touch ${marker}|-1.0-py3-none-any.whl`,
  ];

  test.each(crafted)("upload of %j: 400, nothing recorded, nothing run", async (filename) => {
    const token = await uploader();
    const artifact = await wheel({ name: "x", version: "1.0" });
    const form = new FormData();
    const fields: [string, string][] = [
      [":action", "file_upload"],
      ["protocol_version", "1"],
      ["name", "x"],
      ["version", "1.0"],
      ["filetype", filename.includes(".egg") ? "bdist_egg" : "bdist_wheel"],
      ["sha256_digest", createHash("sha256").update(artifact.bytes).digest("hex")],
    ];
    for (const [name, value] of fields) form.append(name, value);
    form.append("content", new Blob([new Uint8Array(artifact.bytes)]), filename);
    const answer = await fetch(`${server.url}/legacy/`, {
      method: "POST",
      body: form,
      headers: { Authorization: `Basic ${Buffer.from(`__token__:${token}`).toString("base64")}` },
    });
    expect(answer.status).toBe(400);
    expect(answer.statusText).toMatch(/^(Invalid filename|Filetype mismatch)/);
    expect(await listed(server.staging, "x")).toEqual([]);
    expect(server.services.stores.files.byFilename(filename)).toBeUndefined();
    expect(existsSync(marker)).toBe(false);
  });

  test("import of files with such names: each rejected, nothing run", async () => {
    const folder = temporaryFolder("crafted");
    const artifact = await wheel({ name: "x", version: "1.0" });
    // A name on disk cannot hold "/": the same names with a marker in the working directory.
    const relativeMarker = `pydepot-pwned-${process.pid}`;
    const names = crafted.filter((name) => /\.(whl|egg)$/.test(name)).map((name) => name.replaceAll(marker, relativeMarker));
    for (const name of names) writeFileSync(join(folder, name), artifact.bytes);
    const report = await server.services.imports.importDirectory({ kind: "system", name: "checker-test" }, folder);
    expect(report.added).toEqual([]);
    expect(report.rejected.map((rejection) => rejection.reason.split(":")[0])).toEqual(names.map(() => expect.stringMatching(/^Invalid filename/)));
    expect(existsSync(marker) || existsSync(relativeMarker)).toBe(false);
  });

  test("a top_level.txt naming a package the wheel or egg does not install: logged, not imported, the file verified", async () => {
    for (const [file, module] of [[files.staleTopLevel, "stale_top"], [files.staleTopLevelEgg, "stale_top_egg"]]) {
      const { state, check } = await waitForVerdict(server, file);
      expect([state.verification, check.reason]).toEqual(["verified", "installed and imported 1 modules"]);
      expect(check.modules.map((entry) => [entry.name, entry.ok])).toEqual([[module, true]]);
      expect(check.log).toContain("listed in top_level.txt but not installed: excluded_pkg");
    }
  });

  test("compiled test modules: imported, reported as not counted; the file's other modules counted", async () => {
    const { state, check } = await waitForVerdict(server, files.testExts);
    expect([state.verification, check.reason]).toEqual(["verified", "installed and imported 4 modules"]);
    expect(check.modules.map((module) => [module.name, module.ok, module.counted])).toEqual([
      ["test_exts", true, true],
      ["test_exts._speed", true, true],
      ["test_exts._speed_tests", true, false],
      ["test_exts.tests._helper", true, false],
    ]);
  });

  test("member names with shell syntax inside a wheel: logged and not imported, the wheel verified, nothing run", async () => {
    const { state, check } = await waitForVerdict(server, files.oddMembers);
    expect(state.verification).toBe("verified");
    expect(check.modules.map((module) => [module.name, module.ok])).toEqual([["odd_members", true]]);
    expect(check.log).toContain(`'odd$(touch ' is not a valid module name: not imported`);
    expect(check.log).toContain("'odd`touch x`' is not a valid module name: not imported");
    expect(existsSync(MEMBER_MARKER)).toBe(false);
  });

  test("a check asked for such a name: 404, nothing run", async () => {
    const admin = await server.services.accounts.createUser("check-admin", null, true, "checker-test");
    const token = server.services.accounts.createToken(admin.name, "test", "checker-test").token;
    const answer = await fetch(`${server.url}/api/checks`, {
      method: "POST",
      headers: { "Content-Type": "application/json", Authorization: `Basic ${Buffer.from(`__token__:${token}`).toString("base64")}` },
      body: JSON.stringify({ target: crafted[0] }),
    });
    expect(answer.status).toBe(404);
    expect(existsSync(marker)).toBe(false);
  });
});
