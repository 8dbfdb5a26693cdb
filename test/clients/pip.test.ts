// Real pips against a real pydepot: what gets installed, downloaded, verified and resolved.
// Every pip call goes through test/support/clients.ts, which hides this machine's pip
// configuration, so whatever installs was served by pydepot.
import { readdirSync } from "node:fs";
import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectOk, pipDownload, pipInstall, pythonImport } from "../support/clients.js";
import { cleanEnv, runCommand } from "../support/commands.js";
import { findPython } from "../support/pythons.js";
import { startTestServer, type TestServer } from "../support/server.js";
import {
  Environments,
  PIP_23,
  PIP_CLIENTS,
  expectFailure,
  installedDemoVersion,
  meetsRequiresPython,
  output,
  seedIndex,
  servedFile,
  sha256Of,
  type SeededIndex,
} from "./matrix.js";

/** pip 23/24 build dep-a and dep-b from sdists in isolated environments: a few seconds each. */
const SDIST_BUILD_TIMEOUT = 240_000;

let server: TestServer;
let seeded: SeededIndex;
const environments = new Environments();
const scratchDirs: string[] = [];

beforeAll(async () => {
  server = await startTestServer();
  seeded = await seedIndex(server);
});

afterAll(async () => {
  await environments.cleanup();
  await Promise.all(scratchDirs.map((dir) => rm(dir, { recursive: true, force: true })));
  await server?.stop();
});

async function scratchDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "pydepot-test-pip-"));
  scratchDirs.push(dir);
  return dir;
}

// Every test works in its own environment or folder against the one seeded server, so the
// clients and their tests run side by side: vitest runs one file at a time on two cores, and
// most of a pip run is spent waiting on subprocesses.
describe.concurrent.each(PIP_CLIENTS)("$name", (client) => {
  const python = () => findPython(client.python);

  it(`is pip ${client.version}`, async () => {
    const result = expectOk(await runCommand([python(), "-m", "pip", "--version"], { env: cleanEnv(), cwd: tmpdir() }));
    expect(result.stdout).toContain(`pip ${client.version} `);
  });

  it("installs the newest release it may use: yanked ones skipped (if it knows PEP 592), Requires-Python honoured", async () => {
    const env = await environments.fresh(client.python);
    expectOk(await pipInstall(env, server.index, ["Demo_Pkg"]));
    // 2.1 and 2.0 are yanked, 1.5 needs Python >= 3.8. pip 18.1 predates PEP 592 and
    // installs the yanked 2.1, as the real client does (python-index-protocols.md §5).
    const expected = !client.honoursYank ? "2.1" : meetsRequiresPython(client) ? "1.5" : "1.0";
    expect(await installedDemoVersion(env)).toBe(expected);
  });

  it("installs the yanked 2.0 when pinned with ==, saying why it was yanked", async () => {
    const env = await environments.fresh(client.python);
    const result = expectOk(await pipInstall(env, server.index, ["Demo_Pkg==2.0"]));
    expect(await installedDemoVersion(env)).toBe("2.0");
    if (client.honoursYank) expect(output(result)).toContain("Reason for being yanked: broken");
    else expect(output(result)).not.toContain("yanked");
  });

  it(`${meetsRequiresPython(client) ? "chooses" : "passes over"} the release that needs Python >= 3.8`, async () => {
    const env = await environments.fresh(client.python);
    expectOk(await pipInstall(env, server.index, ["Demo_Pkg<2"]));
    expect(await installedDemoVersion(env)).toBe(meetsRequiresPython(client) ? "1.5" : "1.0");
  });

  it("downloads the file exactly as uploaded", async () => {
    const dest = await scratchDir();
    expectOk(await pipDownload(python(), server.index, dest, ["Demo_Pkg==1.0"]));
    expect(await readdir(dest)).toEqual([basename(seeded.files.demoWheel)]);
    expect(await sha256Of(join(dest, basename(seeded.files.demoWheel)))).toBe(await sha256Of(seeded.files.demoWheel));
  });

  it("installs with --require-hashes and the hash the index serves", async () => {
    const served = await servedFile(server, "demo-pkg", seeded.files.demoWheel);
    expect(served.hashes.sha256).toBe(await sha256Of(seeded.files.demoWheel));
    const env = await environments.fresh(client.python);
    const requirements = join(env.workDir, "requirements.txt");
    await writeFile(requirements, `Demo_Pkg==1.0 --hash=sha256:${served.hashes.sha256}\n`);
    expectOk(await pipInstall(env, server.index, ["--require-hashes", "-r", requirements]));
    expect(await installedDemoVersion(env)).toBe("1.0");
  });

  it("refuses a file whose hash does not match the requirements file", async () => {
    const dest = await scratchDir();
    const requirements = join(dest, "requirements.txt");
    await writeFile(requirements, `Demo_Pkg==1.0 --hash=sha256:${"0".repeat(64)}\n`);
    const result = await pipDownload(python(), server.index, dest, ["--require-hashes", "-r", requirements]);
    expect(expectFailure(result)).toContain("THESE PACKAGES DO NOT MATCH THE HASHES");
    expect(await readdir(dest)).toEqual(["requirements.txt"]);
  });

  it(
    "resolves dep-a's dependency dep-b from the index, building both from sdists",
    async () => {
      const env = await environments.fresh(client.python);
      expectOk(await pipInstall(env, server.index, ["dep-a"]));
      // dep_a imports dep_b at import time: this fails unless both were installed.
      expectOk(await pythonImport(env, "dep_a"));
      expect(expectOk(await env.run("import dep_a; print(dep_a.name())")).stdout.trim()).toBe("dep-a on dep-b");
    },
    SDIST_BUILD_TIMEOUT,
  );
});

describe("this machine's pip configuration", () => {
  // PIP_FIND_LINKS points every pip here at a folder of wheels. Were it read, pip would install
  // from there what pydepot never served. Its torch wheel is cp311, so pip 23.2.1 on Python
  // 3.11 is the client that would pick it up.
  const folder = "/opt/wheels";

  it(`is ignored: a project that exists only in ${folder} is not installable through pydepot`, async () => {
    const wheels = readdirSync(folder).filter((name) => name.endsWith(".whl"));
    expect(wheels, `${folder} should hold the machine's local wheels`).not.toEqual([]);
    const project = wheels[0].split("-")[0];
    expect((await fetch(`${server.index}${project}/`)).status).toBe(404);
    const env = await environments.fresh(PIP_23.python);
    const result = await pipInstall(env, server.index, ["--no-deps", project]);
    expect(expectFailure(result)).toContain(`No matching distribution found for ${project}`);
  });
});
