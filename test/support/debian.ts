// Real packages from Debian's binary archive: `apt-get download` of python3-yaml, python3-pil …
// (their installed code for Python 3.11, real compiled modules and real metadata), repackaged by
// debian-wheel.py into the wheel upstream publishes. Downloads and wheels are cached across test
// files and runs under the temporary folder, like the fixtures' builds (packages.ts).
import { createHash } from "node:crypto";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { mkdir, mkdtemp, rename, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { cleanEnv, expectOk, runCommand } from "./commands.js";
import { findPython } from "./pythons.js";

const CACHE_ROOT = join(tmpdir(), "pydepot-test-debian");
const SCRIPT = join(dirname(fileURLToPath(import.meta.url)), "debian-wheel.py");
const PYTHON_WHEELS_DIR = "/usr/share/python-wheels";

export interface DebianWheelOptions {
  /** py3-none-any, py2.py3-none-any, cp311-cp311-linux_x86_64 */
  readonly tag: string;
  /** Upstream's Requires-Dist that Debian emptied out of requires.txt. */
  readonly requires?: readonly string[];
  /** Shared libraries bundled auditwheel-style in `<Name>.libs/`: a Debian package and the library's soname in it. */
  readonly libraries?: readonly { readonly pkg: string; readonly soname: string }[];
  /** No top_level.txt, as wheels built by hatchling, flit, maturin or meson-python come. */
  readonly withoutTopLevel?: boolean;
}

// Calls of this process for one wheel share one build.
const pending = new Map<string, Promise<string>>();

/** The wheel made of Debian package `pkg` (its path, shared by every test: copy it before changing it). */
export function debianWheel(pkg: string, options: DebianWheelOptions): Promise<string> {
  const key = createHash("sha256")
    .update(JSON.stringify({ pkg, options, script: readFileSync(SCRIPT, "utf8") }))
    .digest("hex")
    .slice(0, 32);
  let result = pending.get(key);
  if (result === undefined) {
    result = buildOnce(key, pkg, options);
    result.catch(() => pending.delete(key));
    pending.set(key, result);
  }
  return result;
}

async function buildOnce(key: string, pkg: string, options: DebianWheelOptions): Promise<string> {
  const finalDir = join(CACHE_ROOT, key);
  if (existsSync(finalDir)) return onlyFile(finalDir);
  await mkdir(CACHE_ROOT, { recursive: true });
  // Made beside the cache so the rename is atomic; another worker may make the same wheel.
  const work = await mkdtemp(join(CACHE_ROOT, ".build-"));
  try {
    const root = await unpacked(work, pkg);
    const libraries = await Promise.all(
      (options.libraries ?? []).map(async ({ pkg: libraryPkg, soname }) => findFile(await unpacked(work, libraryPkg), soname)),
    );
    const out = join(work, "out");
    await mkdir(out);
    const argv = [findPython("3.11"), SCRIPT, root, options.tag, out];
    for (const requirement of options.requires ?? []) argv.push("--require", requirement);
    for (const library of libraries) argv.push("--library", library);
    if (options.withoutTopLevel) argv.push("--without-top-level");
    // The `wheel` wheel is a zip Python imports from: its pkginfo_to_metadata is bdist_wheel's.
    expectOk(await runCommand(argv, { env: cleanEnv({ PYTHONPATH: onlyMatch(PYTHON_WHEELS_DIR, /^wheel-.*\.whl$/) }), cwd: work }));
    onlyFile(out);
    try {
      await rename(out, finalDir);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== "ENOTEMPTY" && code !== "EEXIST") throw error;
    }
    return onlyFile(finalDir);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** `apt-get download PKG` and `dpkg-deb -x` into WORK/PKG; answers that folder. */
async function unpacked(work: string, pkg: string): Promise<string> {
  const download = join(work, "download", pkg);
  await mkdir(download, { recursive: true });
  // Run as root, apt-get warns that its sandbox user cannot write the folder; the download works.
  expectOk(await runCommand(["apt-get", "download", pkg], { env: cleanEnv(), cwd: download, timeoutMs: 120_000 }));
  const root = join(work, "root", pkg);
  await mkdir(root, { recursive: true });
  expectOk(await runCommand(["dpkg-deb", "-x", join(download, onlyMatch(download, /\.deb$/).split("/").at(-1)!), root], { env: cleanEnv(), cwd: work }));
  return root;
}

function findFile(root: string, name: string): string {
  const found = readdirSync(root, { recursive: true, withFileTypes: true }).filter((entry) => entry.name === name);
  if (found.length !== 1) throw new Error(`expected one ${name} under ${root}, found ${found.length}`);
  return join(found[0].parentPath, found[0].name);
}

function onlyFile(dir: string): string {
  const names = readdirSync(dir);
  if (names.length !== 1) throw new Error(`expected exactly one file in ${dir}, found ${JSON.stringify(names)}`);
  return join(dir, names[0]);
}

function onlyMatch(dir: string, pattern: RegExp): string {
  const names = existsSync(dir) ? readdirSync(dir).filter((name) => pattern.test(name)) : [];
  if (names.length !== 1) throw new Error(`expected exactly one file matching ${pattern} in ${dir}, found ${JSON.stringify(names)}`);
  return join(dir, names[0]);
}
