// What the import checker tests share: a pydepot server whose clean node is a real sshd
// (test/support/sshd.ts), started on a storage folder that outlives it (a config change is a
// new server on the same storage), the checker's JSON API, bounded waits that say what they
// last saw, and fixtures built with their own environment (a C library of the tests' own,
// LIBRARY_PATH, an rpath, a version).
import { createHash } from "node:crypto";
import { execFile } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { startApp, type App } from "../../src/app.js";
import { loadSettings, type Settings } from "../../src/settings.js";
import type { MatrixEntry } from "../../src/services/verdicts.js";
import type { CheckRow, NodeHealth } from "../../src/store/checks.js";
import { cleanEnv, expectOk, runCommand, type ProcessResult } from "./commands.js";
import { buildWith } from "./packages.js";
import { findPython } from "./pythons.js";
import { sharedPython } from "./unprivileged.js";
import type { SshdNode } from "./sshd.js";

const run = promisify(execFile);

export type NodeSettings = Settings["nodes"][number];
type CheckerSettings = Partial<Settings["checker"]>;

const FIXTURES_DIR = join(dirname(fileURLToPath(import.meta.url)), "..", "fixtures");

/** Temporary folders of this test process, removed when it exits. */
const temporary: string[] = [];
process.on("exit", () => {
  for (const folder of temporary) rmSync(folder, { recursive: true, force: true });
});

export function temporaryFolder(prefix: string): string {
  const folder = mkdtempSync(join(tmpdir(), `pydepot-${prefix}-`));
  temporary.push(folder);
  return folder;
}

// ---- nodes -------------------------------------------------------------------------------------

/**
 * A node "interpreter" that is the real Python 3.11, except for a request whose text holds
 * `matching` (check.py's own text, or a filename as `"filename":"dep_a-`): that one gets
 * `shellCommands` instead. What a node under someone else's control, or code around check.py, sends.
 */
export function interceptingPython(matching: string, shellCommands: string): string {
  const folder = temporaryFolder("intercepting");
  chmodSync(folder, 0o755);
  const script = join(folder, "python3.11");
  writeFileSync(
    script,
    `#!/bin/sh\nrequest=$(mktemp)\ncat > "$request"\nif grep -q '${matching}' "$request"; then rm -f "$request"; ${shellCommands}; fi\nexec ${sharedPython("3.11")} "$@" < "$request"\n`,
    { mode: 0o755 },
  );
  return script;
}


/** A private key in a 0600 file, as `private_key_file` wants it. */
export function privateKeyFile(key: Buffer): string {
  const file = join(temporaryFolder("node-key"), "id_ed25519");
  writeFileSync(file, key, { mode: 0o600 });
  return file;
}

/** A fresh ed25519 key the node has never heard of. */
export async function strangerKey(): Promise<Buffer> {
  const file = join(temporaryFolder("stranger-key"), "id_ed25519");
  await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "pydepot-test-stranger", "-f", file]);
  return readFile(file);
}

/** A well-formed fingerprint that is not the node's. */
export function wrongHostKey(node: SshdNode): string {
  const wrong = `SHA256:${createHash("sha256").update(`not ${node.hostKeySha256}`).digest("base64").replace(/=+$/, "")}`;
  if (wrong === node.hostKeySha256) throw new Error("wrongHostKey: collided with the real fingerprint");
  return wrong;
}

/**
 * The `nodes` entry for an sshd: the copies of Python 3.11 (first: the preferred interpreter,
 * whose check of a py2.py3 wheel is its newest) and 2.7 (eggs, and py2.py3 wheels too) that the
 * unprivileged login can run and cannot write. Override any field to misconfigure it.
 */
export function nodeSettings(node: SshdNode, overrides: Partial<NodeSettings> = {}): NodeSettings {
  return {
    name: "clean-1",
    host: node.host,
    port: node.port,
    user: node.username,
    private_key_file: privateKeyFile(node.privateKey),
    host_key: node.hostKeySha256,
    interpreters: [sharedPython("3.11"), sharedPython("2.7")],
    parallel: 1,
    allow_root_login: false,
    exclusive_login: false,
    ...overrides,
  };
}

/** What a writable copy keeps of the base site-packages: what check.py and venv need. */
const COPIED_SITE_PACKAGES = /^(pip|setuptools|pkg_resources|_distutils_hack)(-.*\.dist-info)?$|^distutils-precedence\.pth$/;

/**
 * A private copy of a pyenv Python "X.Y" (owned by root, in a temporary folder) that a root login
 * can write, as an interpreter on a misconfigured node: the standard library without its tests,
 * only pip and setuptools of the site-packages, and the binary pointed at its own lib/ (as the
 * global setup does). Real copies, never hard links: writes must not reach the pyenv original.
 */
export async function writablePython(version: string): Promise<string> {
  const original = findPython(version);
  const source = dirname(dirname(original));
  const target = temporaryFolder(`python-${version}`);
  const stdlib = `lib/python${version}`;
  const site = `${stdlib}/site-packages`;
  const copy = ["tar", "-C", source, "--exclude", `./${stdlib}/test`, "--exclude", `./${site}`, "--exclude", `./${stdlib}/config-*`, "-cf", "-", "."];
  expectOk(await runCommand(["sh", "-c", `"$@" | tar -C '${target}' -xf -`, "sh", ...copy], { env: cleanEnv(), cwd: target }));
  mkdirSync(join(target, site));
  const kept = readdirSync(join(source, site)).filter((name) => COPIED_SITE_PACKAGES.test(name));
  expectOk(await runCommand(["cp", "-a", ...kept.map((name) => join(source, site, name)), join(target, site)], { env: cleanEnv(), cwd: target }));
  const binary = join(target, "bin", basename(original));
  expectOk(await runCommand(["patchelf", "--set-rpath", "$ORIGIN/../lib", binary], { env: cleanEnv(), cwd: target }));
  return binary;
}

// ---- the server --------------------------------------------------------------------------------

export interface CheckerServer extends App {
  storage: string;
  /** `<url>/simple/` */
  index: string;
  /** `<url>/staging/simple/` */
  staging: string;
  /** What the app logged (scheduler errors land here). */
  log: string[];
}

export interface CheckerServerOptions {
  nodes: NodeSettings[];
  checker?: CheckerSettings;
  /** Start on this storage (a restart with another configuration); a new folder otherwise. */
  storage?: string;
  access?: Partial<Settings["access"]>;
}

/**
 * The real app on 127.0.0.1 and a free port with clean nodes configured. Fast retries by
 * default (sweep and retry every 2 s). stop() keeps the storage: the folder goes when the test
 * process exits.
 */
export async function startCheckerServer(options: CheckerServerOptions): Promise<CheckerServer> {
  const storage = options.storage ?? temporaryFolder("checker-storage");
  const { settings } = loadSettings({
    env: {},
    overrides: {
      server: { port: 0 },
      storage: { path: storage },
      checker: { sweep_seconds: 2, retry_seconds: 2, check_timeout_seconds: 120, ...options.checker },
      nodes: options.nodes,
      ...(options.access ? { access: options.access } : {}),
    },
  });
  const log: string[] = [];
  const app = await startApp(settings, (message) => log.push(message));
  return { ...app, storage, index: `${app.url}/simple/`, staging: `${app.url}/staging/simple/`, log };
}

const MAIN = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "dist", "main.js");

/** `node dist/main.js --config FILE ARGS`: the CLI as installed, on the server's storage and with this node. */
export async function runCli(server: CheckerServer, node: NodeSettings, args: readonly string[]): Promise<ProcessResult> {
  const config = join(temporaryFolder("cli-config"), "pydepot.toml");
  writeFileSync(config, configText(server, node));
  return runCommand(["node", MAIN, "--config", config, ...args], { env: cleanEnv(), cwd: dirname(config), timeoutMs: 120_000 });
}

function configText(server: CheckerServer, node: NodeSettings): string {
  return [`[storage]\npath = ${JSON.stringify(server.storage)}`, checkerToml([node], { server_url: server.url })].join("\n");
}

/** The `[checker]` section and a `[[nodes]]` table per node, as pydepot.toml spells them. */
export function checkerToml(nodes: readonly NodeSettings[], checker: CheckerSettings = {}): string {
  const value = (item: unknown): string => (Array.isArray(item) ? `[${item.map(value).join(", ")}]` : JSON.stringify(item));
  const table = (header: string, values: object) => [header, ...Object.entries(values).map(([key, item]) => `${key} = ${value(item)}`)];
  return [...table("[checker]", checker), ...nodes.flatMap((node) => table("[[nodes]]", node)), ""].join("\n");
}

/** Register a built file the way `pydepot import` does (the check is then due at once). */
export async function addFile(server: CheckerServer, path: string): Promise<string> {
  const report = await server.services.imports.importDirectory({ kind: "system", name: "checker-test" }, path);
  if (report.added.length !== 1) throw new Error(`import of ${path} did not add it: ${JSON.stringify(report)}`);
  return path.split("/").at(-1)!;
}

/** An API token of a new user who may upload. */
export async function uploaderToken(server: CheckerServer, name: string): Promise<string> {
  await server.services.accounts.createUser(name, null, false, "checker-test");
  return server.services.accounts.createToken(name, "test", "checker-test").token;
}

// ---- the checker's API -------------------------------------------------------------------------

export interface FileChecks {
  filename: string;
  verification: "pending" | "verified" | "failed";
  degraded: boolean;
  /** Kept off /simple/ (a degraded or regressed farm build), and why. */
  held: boolean;
  holdReason: string;
  /** The verdict on each interpreter the file fits. */
  matrix: MatrixEntry[];
  /** Newest first. */
  checks: CheckRow[];
}

/** A server whose checker API the waits below read: an in-process CheckerServer or a Farm's `pydepot serve`. */
export interface CheckerApi {
  readonly url: string;
  /** What the server logged, for failure messages, when the test holds it. */
  readonly log?: readonly string[];
  /** The Authorization header the API reads with, where reads need credentials. */
  readonly authorization?: string;
}

/** GET /api/files/:filename/checks */
export async function fileChecks(server: CheckerApi, filename: string): Promise<FileChecks> {
  const headers: Record<string, string> = server.authorization ? { Authorization: server.authorization } : {};
  const response = await fetch(`${server.url}/api/files/${encodeURIComponent(filename)}/checks`, { headers });
  if (response.status !== 200) throw new Error(`GET checks of ${filename}: ${response.status} ${await response.text()}`);
  return (await response.json()) as FileChecks;
}

/** GET /api/nodes */
export async function nodeHealth(server: CheckerServer, name: string): Promise<NodeHealth | undefined> {
  const response = await fetch(`${server.url}/api/nodes`);
  if (response.status !== 200) throw new Error(`GET /api/nodes: ${response.status} ${await response.text()}`);
  const { nodes } = (await response.json()) as { nodes: NodeHealth[] };
  return nodes.find((node) => node.node === name);
}

/** The file names an index page lists; none when the project page is a 404. */
export async function listed(indexUrl: string, project: string): Promise<string[]> {
  const response = await fetch(`${indexUrl}${project}/`, { headers: { Accept: "text/html" } });
  if (response.status === 404) return [];
  if (response.status !== 200) throw new Error(`GET ${indexUrl}${project}/: ${response.status}`);
  return [...(await response.text()).matchAll(/<a [^>]*>([^<]*)<\/a>/g)].map((match) => match[1].replaceAll("&amp;", "&"));
}

// ---- bounded waits -----------------------------------------------------------------------------

/**
 * Polls `attempt` until it returns something other than undefined. On timeout, throws with
 * `description` and what `attempt` last saw (it may set `seen.last`).
 */
export async function eventually<T>(
  description: string,
  attempt: (seen: { last: unknown }) => Promise<T | undefined>,
  timeoutMs: number,
  intervalMs = 150,
): Promise<T> {
  const seen: { last: unknown } = { last: "nothing yet" };
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const result = await attempt(seen);
    if (result !== undefined) return result;
    if (Date.now() >= deadline) {
      const last = typeof seen.last === "string" ? seen.last : JSON.stringify(seen.last, null, 2);
      throw new Error(`${description}: not within ${timeoutMs / 1000} s. Last seen:\n${last}`);
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** A short form of a file's checks for failure messages (logs cut). */
function summary(state: FileChecks): unknown {
  return {
    verification: state.verification,
    checks: state.checks.map(({ id, purpose, status, node, interpreter, reason, log }) => ({ id, purpose, status, node, interpreter, reason, log: log.slice(-1500) })),
  };
}

/**
 * Waits until the file's newest check satisfies `done` (default: it has a verdict), and when that
 * check has a verdict, until no check of the file waits or runs (a file is checked on every
 * interpreter it fits; its newest check is the one on the first configured interpreter).
 */
export function waitForCheck(
  server: CheckerApi,
  filename: string,
  description: string,
  done: (check: CheckRow, state: FileChecks) => boolean = (check) => check.status === "verified" || check.status === "failed",
  timeoutMs = 90_000,
): Promise<{ state: FileChecks; check: CheckRow }> {
  // Every state the newest check went through, for the failure message.
  const states: string[] = [];
  return eventually(
    `${filename}: ${description}`,
    async (seen) => {
      const state = await fileChecks(server, filename);
      const current = state.checks[0] ? `#${state.checks[0].id} ${state.checks[0].status}: ${state.checks[0].reason}` : "no check";
      if (states.at(-1) !== current) states.push(current);
      seen.last = { ...(summary(state) as object), states, serverLog: server.log?.slice(-5) };
      const check = state.checks[0];
      const finished = (other: CheckRow) => other.status === "verified" || other.status === "failed";
      // A verdict is awaited with the file's other checks; a waiting state is not.
      const settled = check !== undefined && (!finished(check) || state.checks.every(finished));
      return settled && done(check, state) ? { state, check } : undefined;
    },
    timeoutMs,
  );
}

/**
 * Waits until the file has a verdict on every interpreter of its matrix (`count` of them) and no
 * check of it waits or runs; answers the matrix by Python version ("2.7", "3.11").
 */
export async function waitForMatrix(
  server: CheckerApi,
  filename: string,
  count: number,
  timeoutMs = 240_000,
): Promise<{ state: FileChecks; byPython: Record<string, MatrixEntry> }> {
  return eventually(
    `${filename}: a verdict on each of ${count} interpreters`,
    async (seen) => {
      const state = await fileChecks(server, filename);
      seen.last = { ...(summary(state) as object), matrix: state.matrix.map(({ python, verdict, reason }) => ({ python, verdict, reason })), serverLog: server.log?.slice(-5) };
      const idle = state.checks.every((check) => check.status === "verified" || check.status === "failed");
      const settled = idle && state.matrix.length === count && state.matrix.every((entry) => entry.verdict !== "pending");
      return settled ? { state, byPython: Object.fromEntries(state.matrix.map((entry) => [entry.python, entry])) } : undefined;
    },
    timeoutMs,
  );
}

/** Waits for the first verdict on a new file. */
export async function waitForVerdict(server: CheckerApi, filename: string, timeoutMs = 90_000): Promise<{ state: FileChecks; check: CheckRow }> {
  return waitForCheck(server, filename, "a verdict", (check) => check.status === "verified" || check.status === "failed", timeoutMs);
}

// ---- fixtures built with their own environment ---------------------------------------------------

/**
 * libpdtest.so (test/fixtures/libpdtest) built with gcc into `folder` (a fresh one by default):
 * a native library no system has, for extensions to link against.
 */
export async function buildTestLibrary(folder = temporaryFolder("libpdtest")): Promise<string> {
  const library = join(folder, "libpdtest.so");
  expectOk(await runCommand(["gcc", "-shared", "-fPIC", "-O2", "-o", library, join(FIXTURES_DIR, "libpdtest", "pdtest.c")], { env: cleanEnv(), cwd: folder }));
  return library;
}

export interface FixtureBuild {
  /** A folder under test/fixtures. */
  readonly fixture: string;
  /** bdist_wheel with Python 3.11 (default) or bdist_egg with Python 2.7. */
  readonly kind?: "wheel" | "egg";
  /** More environment for setup.py: a version, LIBRARY_PATH, LDFLAGS. Part of the cache key. */
  readonly env?: Readonly<Record<string, string>>;
  /** Files whose contents the build depends on besides the fixture (e.g. a library), for the cache key. */
  readonly inputs?: readonly string[];
}

/** Builds the fixture (cached across runs by its sources, environment and inputs) and returns the file. */
export function buildFixture(build: FixtureBuild): Promise<string> {
  return buildWith(build.kind ?? "wheel", build.fixture, { env: build.env, inputs: build.inputs });
}
