// easy_install (setuptools 41.2 on Python 2.7) against pydepot: a platform egg with a C
// extension, a project asked for by its non-normalized name, and a dependency chain from an
// egg and an sdist. Each install lands in a fresh 2.7 environment's folder and is imported
// from there with PYTHONPATH pointing at it.
import { readdir } from "node:fs/promises";
import { basename } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectOk, pythonImport } from "../support/clients.js";
import { startRequestLog, type RequestLog } from "../support/request-log.js";
import { startTestServer, type TestServer } from "../support/server.js";
import { EASY_INSTALL, Environments, HTML_PAGE, installedDemoVersion, output, seedIndex, type SeededIndex } from "./matrix.js";

/** easy_install builds dep-b's sdist with setup.py on Python 2.7. */
const SDIST_BUILD_TIMEOUT = 180_000;

let server: TestServer;
let seeded: SeededIndex;
let log: RequestLog;
const environments = new Environments();

beforeAll(async () => {
  server = await startTestServer();
  seeded = await seedIndex(server);
  log = await startRequestLog(server.url);
});

afterAll(async () => {
  await environments.cleanup();
  await log?.stop();
  await server?.stop();
});

describe.concurrent(EASY_INSTALL.name, () => {
  it("installs the platform egg natmod-0.1-py2.7-linux-x86_64.egg, and its C extension imports", async () => {
    const env = await environments.fresh(EASY_INSTALL.python);
    const result = expectOk(await EASY_INSTALL.install(env, server.index, "natmod"));
    expect(basename(seeded.files.natmodEgg)).toBe("natmod-0.1-py2.7-linux-x86_64.egg");
    expect(output(result)).toContain(`Installed ${env.installDir}/natmod-0.1-py2.7-linux-x86_64.egg`);
    expect(await readdir(env.installDir)).toContain("natmod-0.1-py2.7-linux-x86_64.egg");
    const imported = expectOk(await pythonImport(env, "natmod._speed"));
    expect(imported.stdout).toMatch(/_speed\.so\n$/);
    expect(expectOk(await env.run("import natmod; print(natmod.add(2, 3))")).stdout.trim()).toBe("5");
  });

  it("installs Demo_Pkg by the name as typed, following pydepot's 301 to the normalized page", async () => {
    const env = await environments.fresh(EASY_INSTALL.python);
    expectOk(await EASY_INSTALL.install(env, log.index, "Demo_Pkg"));
    // easy_install reads neither data-yanked nor data-requires-python: it takes the highest
    // version, the yanked 2.1, as the real client does (python-index-protocols.md §5, §11.9).
    expect(await installedDemoVersion(env)).toBe("2.1");

    const pages = log.from(EASY_INSTALL.userAgent).filter((request) => request.path.startsWith("/simple/"));
    // One redirect and one page: no retry under the safe_name spelling, no scan of the root page.
    expect(pages.map((request) => `${request.status} ${request.path}`)).toEqual(["301 /simple/Demo_Pkg/", "200 /simple/demo-pkg/"]);
    for (const request of pages) expect(request.accept).toBeUndefined();
    expect(pages[1].contentType).toBe(HTML_PAGE);
  });

  it(
    "resolves dep-a → dep-b: dep-a from its egg, dep-b built from its sdist",
    async () => {
      const env = await environments.fresh(EASY_INSTALL.python);
      const result = expectOk(await EASY_INSTALL.install(env, server.index, "dep-a"));
      const printed = output(result);
      expect(printed).toContain(`/files/dep-a/${basename(seeded.files.depAEgg)}#sha256=`);
      expect(printed).toContain(`/files/dep-b/${basename(seeded.files.depBSdist)}#sha256=`);
      expect(expectOk(await env.run("import dep_a; print(dep_a.name())")).stdout.trim()).toBe("dep-a on dep-b");
    },
    SDIST_BUILD_TIMEOUT,
  );
});
