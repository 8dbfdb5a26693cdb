// The clients the index must serve and the one data set every client test file puts on its
// own server. Each row says what the real client does (python-index-protocols.md §10); the
// scenarios in *.test.ts are written once and run for every row.
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { basename } from "node:path";
import { expect } from "vitest";
import {
  easyInstall,
  expectOk,
  makeEnvironment,
  pipInstall,
  twineUpload,
  type ProcessResult,
  type PythonEnvironment,
} from "../support/clients.js";
import { buildEgg, buildSdist, buildToolWheels, buildWheel } from "../support/packages.js";
import type { TestServer } from "../support/server.js";

export const JSON_PAGE = "application/vnd.pypi.simple.v1+json";
export const HTML_PAGE = "text/html; charset=utf-8";

export interface Client {
  /** Test title, e.g. "pip 24.2 on Python 3.13". */
  readonly name: string;
  /** The interpreter ("X.Y") whose installer this is; findPython fails loudly without it. */
  readonly python: string;
  /** What `python -m pip --version` or setuptools says it is. */
  readonly version: string;
  /** A piece of the User-Agent that tells this client's requests apart in a request log. */
  readonly userAgent: string;
  /** The Accept header it sends on index pages (undefined: none at all). */
  readonly accept: string | undefined;
  /** The Content-Type pydepot answers that Accept with. */
  readonly pageType: string;
  /** Skips yanked releases unless pinned with `==` (PEP 592). */
  readonly honoursYank: boolean;
  /** Resolves from PEP 658 `<wheel>.metadata` (pip >= 23.2, `core-metadata` only). */
  readonly readsCoreMetadata: boolean;
  /** Installs `requirement` from `index` into `env` (a fresh or shared environment). */
  install(env: PythonEnvironment, index: string, requirement: string): Promise<ProcessResult>;
}

const PIP_HTML_ACCEPT = "text/html";
const PIP_JSON_ACCEPT = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01";

function pip(version: string, python: string, rest: Pick<Client, "accept" | "pageType" | "honoursYank" | "readsCoreMetadata">): Client {
  return {
    name: `pip ${version} on Python ${python}`,
    python,
    version,
    userAgent: `pip/${version} `,
    ...rest,
    install: (env, index, requirement) => pipInstall(env, index, [requirement]),
  };
}

export const PIP_18 = pip("18.1", "3.6", { accept: PIP_HTML_ACCEPT, pageType: HTML_PAGE, honoursYank: false, readsCoreMetadata: false });
export const PIP_19 = pip("19.2.3", "2.7", { accept: PIP_HTML_ACCEPT, pageType: HTML_PAGE, honoursYank: true, readsCoreMetadata: false });
/** Reads only the legacy `dist-info-metadata` key, which pydepot never sends (it crashes this pip). */
export const PIP_23_0 = pip("23.0.1", "3.10", { accept: PIP_JSON_ACCEPT, pageType: JSON_PAGE, honoursYank: true, readsCoreMetadata: false });
export const PIP_23 = pip("23.2.1", "3.11", { accept: PIP_JSON_ACCEPT, pageType: JSON_PAGE, honoursYank: true, readsCoreMetadata: true });
export const PIP_24 = pip("24.2", "3.13", { accept: PIP_JSON_ACCEPT, pageType: JSON_PAGE, honoursYank: true, readsCoreMetadata: true });

export const EASY_INSTALL: Client = {
  name: "easy_install (setuptools 41.2) on Python 2.7",
  python: "2.7",
  version: "41.2.0",
  userAgent: "setuptools/41.2.0 ",
  accept: undefined,
  pageType: HTML_PAGE,
  honoursYank: false,
  readsCoreMetadata: false,
  install: (env, index, requirement) => easyInstall(index, requirement, env.installDir),
};

/** The pips the issue names: one per generation this company still runs. */
export const PIP_CLIENTS: readonly Client[] = [PIP_18, PIP_19, PIP_23, PIP_24];

/** Does the interpreter allow Demo_Pkg 1.5 (Requires-Python >=3.8)? */
export function meetsRequiresPython(client: Client): boolean {
  const [major, minor] = client.python.split(".").map(Number);
  return major > 3 || (major === 3 && minor >= 8);
}

/**
 * What every client test file puts on its server, uploaded with twine:
 *
 *   Demo_Pkg 1.0   sdist + py2.py3 wheel
 *   Demo_Pkg 1.5   wheel, Requires-Python >=3.8
 *   Demo_Pkg 2.0   wheel, yanked "broken"
 *   Demo_Pkg 2.1   wheel, yanked with no reason (data-yanked="")
 *   dep-a 1.0      py2.7 egg + sdist (no wheel: pip builds it, easy_install takes the egg); needs dep-b
 *   dep-b 1.0      sdist only (every client builds it)
 *   natmod 0.1     natmod-0.1-py2.7-linux-x86_64.egg (C extension)
 *   setuptools, wheel   the build tools pip >= 23.1 fetches from the index to build sdists
 */
export interface SeededIndex {
  /** An API token of the user who uploaded everything (admin of every project). */
  readonly uploaderToken: string;
  readonly files: {
    readonly demoSdist: string;
    readonly demoWheel: string;
    readonly demo15: string;
    readonly demo20: string;
    readonly demo21: string;
    readonly depAEgg: string;
    readonly depASdist: string;
    readonly depBSdist: string;
    readonly natmodEgg: string;
  };
}

export async function seedIndex(server: TestServer): Promise<SeededIndex> {
  const [demoSdist, demoWheel, demo15, demo20, demo21, depAEgg, depASdist, depBSdist, natmodEgg] = await Promise.all([
    buildSdist("demo-pkg"),
    buildWheel("demo-pkg"),
    buildWheel("demo-pkg", { version: "1.5", requiresPython: ">=3.8" }),
    buildWheel("demo-pkg", { version: "2.0" }),
    buildWheel("demo-pkg", { version: "2.1" }),
    buildEgg("dep-a"),
    buildSdist("dep-a"),
    buildSdist("dep-b"),
    buildEgg("natmod"),
  ]);
  const files = { demoSdist, demoWheel, demo15, demo20, demo21, depAEgg, depASdist, depBSdist, natmodEgg };
  const uploaderToken = await server.userToken("uploader");
  const credentials = { username: "__token__", password: uploaderToken };
  expectOk(await twineUpload(server.uploadUrl, [...Object.values(files), ...buildToolWheels()], credentials));
  const operator = { kind: "system", name: "test" } as const;
  server.services.releases.yank(operator, "Demo_Pkg", "2.0", "broken");
  server.services.releases.yank(operator, "Demo_Pkg", "2.1", "");
  return { uploaderToken, files };
}

/** `demo_pkg.VERSION` in the environment: which release the client really installed. */
export async function installedDemoVersion(env: PythonEnvironment): Promise<string> {
  return expectOk(await env.run("import demo_pkg; print(demo_pkg.VERSION)")).stdout.trim();
}

/** stdout and stderr together: pip and easy_install split their messages between the two. */
export function output(result: ProcessResult): string {
  return `${result.stdout}\n${result.stderr}`;
}

/** Asserts a non-zero exit and returns the output, so the failure message can be checked. */
export function expectFailure(result: ProcessResult): string {
  expect(result.code, `expected ${result.command.join(" ")} to fail, but it succeeded:\n${output(result)}`).not.toBe(0);
  return output(result);
}

export interface ServedFile {
  readonly filename: string;
  readonly url: string;
  readonly hashes: { readonly sha256: string };
}

/** The files a project page lists, read the way pip >= 22.2 reads it (PEP 691 JSON). */
export async function servedFiles(server: TestServer, project: string): Promise<ServedFile[]> {
  const answer = await fetch(`${server.index}${project}/`, { headers: { Accept: JSON_PAGE } });
  expect(answer.status).toBe(200);
  const page = (await answer.json()) as { files: ServedFile[] };
  return page.files;
}

/** The listing of one file, by the basename of a local path. */
export async function servedFile(server: TestServer, project: string, localPath: string): Promise<ServedFile> {
  const filename = basename(localPath);
  const file = (await servedFiles(server, project)).find((candidate) => candidate.filename === filename);
  if (file === undefined) throw new Error(`${filename} is not listed on ${server.index}${project}/`);
  return file;
}

export async function sha256Of(path: string): Promise<string> {
  return createHash("sha256").update(await readFile(path)).digest("hex");
}

/** The environments one test file makes (each test that installs gets a new one), removed in its afterAll. */
export class Environments {
  private readonly made: PythonEnvironment[] = [];

  /** A new, empty environment for an install whose outcome must not depend on earlier tests. */
  async fresh(python: string): Promise<PythonEnvironment> {
    const env = await makeEnvironment(python);
    this.made.push(env);
    return env;
  }

  async cleanup(): Promise<void> {
    await Promise.all(this.made.splice(0).map((env) => env.cleanup()));
  }
}
