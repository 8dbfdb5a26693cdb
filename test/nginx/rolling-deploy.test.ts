// A rolling deploy through nginx as rendered by `pydepot nginx-config`: 50 fresh venvs install the
// same pinned set at once with `pip install --require-hashes`, and every one succeeds with the
// bytes the hashes name (pip refuses any other), pages from pydepot, files from nginx.
import { createHash } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { wheel, type Wheel } from "../support/artifacts.js";
import { cleanEnv, expectOk, runCommand } from "../support/commands.js";
import { findPython } from "../support/pythons.js";
import { startTestServer, type TestServer } from "../support/server.js";
import { publish } from "../http/requests.js";
import { startNginxFor, type Nginx } from "./proxy.js";

const SERVERS = 50;
/** pip 24 runs for the venvs (`pip --python`), so each venv is made without a pip of its own. */
const PYTHON = "3.13";

let server: TestServer;
let nginx: Nginx;
let root: string;
let pinned: Wheel[];

beforeAll(async () => {
  server = await startTestServer();
  nginx = await startNginxFor(server);
  pinned = [await wheel({ name: "deploy-app", version: "2.1" }), await wheel({ name: "deploy-lib", version: "0.9" }), await wheel({ name: "deploy-util", version: "1.4" })];
  await publish(server, await server.userToken("release"), ...pinned, await wheel({ name: "deploy-app", version: "2.2" }));
  root = await mkdtemp(join(tmpdir(), "pydepot-rolling-"));
}, 120_000);

afterAll(async () => {
  await nginx?.stop();
  await server?.stop();
  if (root) await rm(root, { recursive: true, force: true });
});

describe("a rolling deploy through nginx", () => {
  test(`${SERVERS} fresh venvs install the pinned set at once, each with matching hashes`, async () => {
    const requirements = join(root, "requirements.txt");
    const sha256 = (bytes: Buffer) => createHash("sha256").update(bytes).digest("hex");
    await writeFile(requirements, pinned.map((artifact) => `${artifact.name}==${artifact.version} --hash=sha256:${sha256(artifact.bytes)}\n`).join(""));
    const python = findPython(PYTHON);
    const results = await Promise.all(
      Array.from({ length: SERVERS }, async (_, index) => {
        const venv = join(root, `server-${index}`);
        expectOk(await runCommand([python, "-m", "venv", "--without-pip", venv], { env: cleanEnv(), cwd: root }));
        const install = [python, "-m", "pip", "--python", join(venv, "bin", "python"), "install", "--isolated", "--no-cache-dir", "--disable-pip-version-check"];
        install.push("--index-url", `${nginx.url}/simple/`, "--require-hashes", "-r", requirements);
        const result = await runCommand(install, { env: cleanEnv(), cwd: root, timeoutMs: 500_000 });
        const versions = await runCommand([join(venv, "bin", "python"), "-c", "import deploy_app, deploy_lib, deploy_util; print(deploy_app.__version__, deploy_lib.__version__, deploy_util.__version__)"], { env: cleanEnv(), cwd: venv });
        return { code: result.code, output: `${result.stdout}${result.stderr}`, versions: versions.stdout.trim() };
      }),
    );
    const failed = results.filter((result) => result.code !== 0);
    expect(failed.map((result) => result.output)).toEqual([]);
    for (const result of results) {
      expect(result.output).toMatch(/Successfully installed deploy-app-2\.1 deploy-lib-0\.9 deploy-util-1\.4/);
      expect(result.versions).toBe("2.1 0.9 1.4");
    }
  }, 600_000);
});
