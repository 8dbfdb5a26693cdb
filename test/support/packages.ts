// Real distribution files built from test/fixtures with the build tools already on this
// machine (no index involved), cached across test files and test runs. The returned files are
// shared by every test: copy one before changing it.
import { createHash } from "node:crypto";
import { copyFile, mkdir, mkdtemp, readdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { existsSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { cleanEnv, expectOk, runCommand } from "./commands.js";
import { findPython } from "./pythons.js";

export type Fixture =
  | "demo-pkg"
  | "dep-a"
  | "dep-b"
  | "natmod"
  // build farm fixtures (test/farm): what a build agent meets
  | "buildhelper" // pure; needs-build-req needs it at build time
  | "needs-build-req" // setup_requires + pyproject.toml build requirement: buildhelper
  | "build-fails" // a C extension with a syntax error
  | "build-hangs" // setup.py (and a child) sleep for ever
  | "optional-ext" // an optional C extension that cannot compile: a degraded build
  | "regress-ext" // a C extension linking libm in 1.0 and nothing in later versions: a regressed build
  | "slow-build" // pure, but every build sleeps a few seconds first
  | "sleepy-build-req" // sleeps a few seconds, then fetches buildhelper (setup_requires)
  | "hostile-build" // its wheel build hunts for credentials, attacks the farm API and leaves litter
  | "build-bombs" // its build prints its rlimits, maps 9 GiB, forks past 512 processes and writes past a file size limit
  | "disk-filler" // its build writes to a file until something stops it
  | "module-bomb" // its egg's "compiled module" is 200 MiB of zeros, compressed to a few hundred KiB
  | "log-flood" // its build prints 30,000 lines at once and a 20 MiB line, then succeeds
  | "foreign-output" // its egg build replaces its egg with a hard link to a file of root's and adds a symbolic link to /etc/shadow
  // import checker fixtures (test/checker), also uploaded as sdists for the farm to build
  | "py3-only" // a universal wheel whose one module imports on Python 3 only
  | "py3-dep" // pure, Requires-Python >=3: no file for Python 2.7
  | "needs-py3-dep"; // a universal wheel depending on py3-dep

/** Fixtures whose setup.py reads settings.json, so each build can be another release. */
const CONFIGURABLE: ReadonlySet<Fixture> = new Set(["demo-pkg", "slow-build", "regress-ext"]);

/** Only demo-pkg, slow-build and regress-ext take options (regress-ext and slow-build only the version); the other fixtures are fixed at their one release. */
export interface BuildOptions {
  readonly version?: string;
  readonly requiresPython?: string;
  readonly requires?: readonly string[];
}

/** More for a build to depend on: environment for setup.py (LIBRARY_PATH, LDFLAGS…) and files it reads. Both are part of the cache key. */
export interface BuildExtras {
  readonly env?: Readonly<Record<string, string>>;
  readonly inputs?: readonly string[];
}

type Kind = "sdist" | "wheel" | "egg";

/** settings.json as demo-pkg/setup.py reads it (slow-build and regress-ext read the version only). */
interface DemoSettings {
  readonly version: string;
  readonly requires_python: string | null;
  readonly requires: readonly string[];
}

const FIXTURES_DIR = join(dirname(fileURLToPath(import.meta.url)), "..", "fixtures");
const CACHE_ROOT = join(tmpdir(), "pydepot-test-dists");
// Change when the way a file is built changes, so old cached builds are not reused.
const RECIPE_REVISION = "1";
const PYTHON_WHEELS_DIR = "/usr/share/python-wheels";

/** `setup.py sdist --formats=gztar` with Python 3.11 (setuptools 65.5). */
export function buildSdist(fixture: Fixture, options: BuildOptions = {}): Promise<string> {
  return build(fixture, options, "sdist");
}

/** `setup.py bdist_wheel` with Python 3.11: py2.py3-none-any, or cp311 for natmod. */
export function buildWheel(fixture: Fixture, options: BuildOptions = {}): Promise<string> {
  return build(fixture, options, "wheel");
}

/** `setup.py bdist_egg` with Python 2.7 (setuptools 41.2): -py2.7.egg, natmod with -linux-x86_64. */
export function buildEgg(fixture: Fixture, options: BuildOptions = {}): Promise<string> {
  return build(fixture, options, "egg");
}

/** A wheel or egg of any folder under test/fixtures, built with extra environment and inputs. */
export function buildWith(kind: "wheel" | "egg", fixture: string, extras: BuildExtras): Promise<string> {
  return build(fixture, {}, kind, extras);
}

/**
 * What an index needs so that pip can build an sdist in an isolated environment (pip 23.1+
 * without `wheel` installed, and the 3.12+ venvs, which come without setuptools).
 * setuptools is 67.6.1, the upstream wheel CPython 3.12 ships as test data: the 65.5 bundled
 * with 3.11 fails on 3.12+ (pkgutil.ImpImporter), and Debian's 66.1.1 is patched for Debian's
 * Python. It declares Requires-Python >=3.7, so older pips skip it. wheel comes from Debian.
 */
export function buildToolWheels(): string[] {
  const cpythonTests = join(dirname(dirname(findPython("3.12"))), "lib", "python3.12", "test");
  return [onlyMatch(cpythonTests, /^setuptools-.*\.whl$/), onlyMatch(PYTHON_WHEELS_DIR, /^wheel-.*\.whl$/)];
}

interface Recipe {
  readonly python: string;
  readonly command: readonly string[];
  readonly env: Readonly<Record<string, string | undefined>>;
}

function recipeFor(kind: Kind): Recipe {
  // Byte-compiling stays on, so eggs carry .pyc files like the ones users upload.
  const compile = { PYTHONDONTWRITEBYTECODE: undefined };
  switch (kind) {
    case "sdist":
      return { python: findPython("3.11"), command: ["sdist", "--formats=gztar"], env: compile };
    case "wheel":
      // The wheel package is not installed in the pyenv Pythons, but its own wheel is a zip
      // Python imports from, and that is all setuptools needs to find bdist_wheel.
      return {
        python: findPython("3.11"),
        command: ["bdist_wheel"],
        env: { ...compile, PYTHONPATH: onlyMatch(PYTHON_WHEELS_DIR, /^wheel-.*\.whl$/) },
      };
    case "egg":
      return { python: findPython("2.7"), command: ["bdist_egg"], env: compile };
  }
}

// Builds started by this process, so parallel calls for one file share one build.
const pending = new Map<string, Promise<string>>();

async function build(fixture: string, options: BuildOptions, kind: Kind, extras: BuildExtras = {}): Promise<string> {
  const settings = settingsFor(fixture, options);
  const base = recipeFor(kind);
  const recipe = { ...base, env: { ...base.env, ...extras.env } };
  const source = join(FIXTURES_DIR, fixture);
  const files = await fixtureFiles(source);
  const inputs = await Promise.all((extras.inputs ?? []).map(async (file) => createHash("sha256").update(await readFile(file)).digest("hex")));
  const key = cacheKey({ fixture, kind, settings, recipe, files: await digests(source, files), inputs });
  let result = pending.get(key);
  if (result === undefined) {
    result = buildOnce(key, source, files, settings, recipe);
    result.catch(() => pending.delete(key));
    pending.set(key, result);
  }
  return result;
}

async function buildOnce(
  key: string,
  source: string,
  files: readonly string[],
  settings: DemoSettings | undefined,
  recipe: Recipe,
): Promise<string> {
  const finalDir = join(CACHE_ROOT, key);
  if (existsSync(finalDir)) return onlyFile(finalDir);
  await mkdir(CACHE_ROOT, { recursive: true });
  // Build beside the cache so the final rename is atomic; another worker process may be
  // building the same file, and whoever renames first wins.
  const work = await mkdtemp(join(CACHE_ROOT, ".build-"));
  try {
    const copy = join(work, "source");
    for (const file of files) {
      await mkdir(dirname(join(copy, file)), { recursive: true });
      await copyFile(join(source, file), join(copy, file));
    }
    if (settings !== undefined) await writeFile(join(copy, "settings.json"), JSON.stringify(settings));
    const out = join(work, "out");
    const argv = [recipe.python, "setup.py", ...recipe.command, "--dist-dir", out];
    expectOk(await runCommand(argv, { env: cleanEnv(recipe.env), cwd: copy }));
    onlyFile(out);
    try {
      await rename(out, finalDir);
    } catch (error) {
      if (!isTakenByAnotherBuild(error)) throw error;
    }
    return onlyFile(finalDir);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

function settingsFor(fixture: string, options: BuildOptions): DemoSettings | undefined {
  const given = options.version !== undefined || options.requiresPython !== undefined || options.requires !== undefined;
  if (!CONFIGURABLE.has(fixture as Fixture)) {
    if (given) throw new Error(`build options are only supported for ${[...CONFIGURABLE].join(" and ")}, not ${fixture}`);
    return undefined;
  }
  return {
    version: options.version ?? "1.0",
    requires_python: options.requiresPython ?? null,
    requires: options.requires ?? [],
  };
}

// Leftovers of someone running setup.py inside test/fixtures are not part of the fixture.
const IGNORED = /^(build|dist|__pycache__|.*\.egg-info|.*\.pyc|settings\.json|_version\.py)$/;

async function fixtureFiles(root: string): Promise<string[]> {
  const files: string[] = [];
  async function walk(dir: string): Promise<void> {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      if (IGNORED.test(entry.name)) continue;
      const path = join(dir, entry.name);
      if (entry.isDirectory()) await walk(path);
      else if (entry.isFile()) files.push(relative(root, path));
    }
  }
  if (!(await stat(root)).isDirectory()) throw new Error(`no fixture at ${root}`);
  await walk(root);
  return files.sort();
}

async function digests(root: string, files: readonly string[]): Promise<Record<string, string>> {
  const result: Record<string, string> = {};
  for (const file of files) {
    result[file] = createHash("sha256").update(await readFile(join(root, file))).digest("hex");
  }
  return result;
}

function cacheKey(inputs: object): string {
  const text = JSON.stringify({ revision: RECIPE_REVISION, ...inputs });
  return createHash("sha256").update(text).digest("hex").slice(0, 32);
}

function onlyFile(dir: string): string {
  const names = readdirSync(dir);
  if (names.length !== 1 || names[0] === undefined) {
    throw new Error(`expected exactly one built file in ${dir}, found ${JSON.stringify(names)}`);
  }
  return join(dir, names[0]);
}

function onlyMatch(dir: string, pattern: RegExp): string {
  const names = existsSync(dir) ? readdirSync(dir).filter((name) => pattern.test(name)) : [];
  if (names.length !== 1 || names[0] === undefined) {
    throw new Error(`expected exactly one file matching ${pattern} in ${dir}, found ${JSON.stringify(names)}`);
  }
  return join(dir, names[0]);
}

function isTakenByAnotherBuild(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException).code;
  return code === "ENOTEMPTY" || code === "EEXIST";
}
