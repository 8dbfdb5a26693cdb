// Driving the real Python clients (pip, twine, easy_install) against a pydepot URL.
// Every function resolves with the client's exit status and output instead of throwing, so a
// test can assert on refusals as well as on successes; wrap in expectOk() when it must work.
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cleanEnv, expectOk, runCommand, type ProcessResult } from "./commands.js";
import { findPython } from "./pythons.js";

export { cleanEnv, expectOk, type ProcessResult } from "./commands.js";

/** Debian's twine 4.0.2; a fresh machine gets it from global-setup.ts. */
export const TWINE = "/usr/bin/twine";

// pip 18.1 (Python 3.6) is the oldest pip we drive, and it knows all of these.
const PIP_ISOLATION = ["--isolated", "--no-cache-dir", "--disable-pip-version-check"];

/**
 * A fresh place to install into and run from. A venv for Python 3; for Python 2.7, which has
 * no venv module, the base interpreter with a `pip install --target` folder on PYTHONPATH.
 */
export interface PythonEnvironment {
  readonly pythonVersion: string;
  /** The interpreter to run (the venv's own for 3.x, the base one for 2.7). */
  readonly python: string;
  /** Arguments before `-m pip` or `-c`. */
  readonly pythonArgs: readonly string[];
  /** Where installed packages land; for 2.7 also the folder easyInstall() wants. */
  readonly installDir: string;
  /** An empty folder, the working directory of every command run here (which puts it on
   *  sys.path); a place for requirement files. */
  readonly workDir: string;
  /** Added to `pip install` so the packages land in installDir. */
  readonly pipInstallArgs: readonly string[];
  readonly env: NodeJS.ProcessEnv;
  /** Runs `python -c code args...` inside the environment. */
  run(code: string, args?: readonly string[]): Promise<ProcessResult>;
  cleanup(): Promise<void>;
}

export async function makeEnvironment(pythonVersion: string): Promise<PythonEnvironment> {
  const base = findPython(pythonVersion);
  const root = await mkdtemp(join(tmpdir(), `pydepot-test-env-${pythonVersion}-`));
  try {
    if (pythonVersion.startsWith("2.")) return await targetEnvironment(pythonVersion, base, root);
    return await virtualEnvironment(pythonVersion, base, root);
  } catch (error) {
    await rm(root, { recursive: true, force: true });
    throw error;
  }
}

async function virtualEnvironment(pythonVersion: string, base: string, root: string): Promise<PythonEnvironment> {
  const venv = join(root, "venv");
  // venv's ensurepip installs the wheels bundled with that Python: no index is involved.
  expectOk(await runCommand([base, "-m", "venv", venv], { env: cleanEnv(), cwd: root }));
  return environment({
    pythonVersion,
    root,
    workDir: await makeWorkDir(root),
    python: join(venv, "bin", "python"),
    pythonArgs: [],
    installDir: join(venv, "lib", `python${pythonVersion}`, "site-packages"),
    pipInstallArgs: [],
    env: cleanEnv(),
  });
}

async function targetEnvironment(pythonVersion: string, base: string, root: string): Promise<PythonEnvironment> {
  const target = join(root, "target");
  await mkdir(target);
  // -s and PYTHONNOUSERSITE keep ~/.local out; the base site-packages (pip, setuptools) stays,
  // which is what a 2.7 user without virtualenv has too.
  return environment({
    pythonVersion,
    root,
    workDir: await makeWorkDir(root),
    python: base,
    pythonArgs: ["-s"],
    installDir: target,
    pipInstallArgs: ["--target", target],
    env: cleanEnv({ PYTHONPATH: target }),
  });
}

async function makeWorkDir(root: string): Promise<string> {
  const workDir = join(root, "work");
  await mkdir(workDir);
  return workDir;
}

interface EnvironmentParts {
  readonly pythonVersion: string;
  readonly root: string;
  readonly workDir: string;
  readonly python: string;
  readonly pythonArgs: readonly string[];
  readonly installDir: string;
  readonly pipInstallArgs: readonly string[];
  readonly env: NodeJS.ProcessEnv;
}

function environment(parts: EnvironmentParts): PythonEnvironment {
  const { root, ...visible } = parts;
  return {
    ...visible,
    run: (code, args = []) =>
      runCommand([parts.python, ...parts.pythonArgs, "-c", code, ...args], { env: parts.env, cwd: parts.workDir }),
    cleanup: () => rm(root, { recursive: true, force: true }),
  };
}

/** `pip install --index-url URL ...args` into the environment (e.g. ["Demo_Pkg==1.0"]). */
export function pipInstall(env: PythonEnvironment, indexUrl: string, args: readonly string[]): Promise<ProcessResult> {
  const argv = [env.python, ...env.pythonArgs, "-m", "pip", "install", ...PIP_ISOLATION];
  argv.push("--index-url", indexUrl, ...env.pipInstallArgs, ...args);
  return runCommand(argv, { env: env.env, cwd: env.workDir });
}

/**
 * `pip download` with any interpreter (a base pyenv Python is fine: nothing gets installed),
 * so each pip version can be asked what it would pick.
 */
export function pipDownload(
  python: string,
  indexUrl: string,
  destDir: string,
  args: readonly string[],
): Promise<ProcessResult> {
  const argv = [python, "-m", "pip", "download", ...PIP_ISOLATION, "--index-url", indexUrl];
  argv.push("--dest", destDir, ...args);
  return runCommand(argv, { env: cleanEnv(), cwd: destDir });
}

/** Imports moduleName in the environment and prints its __file__ on stdout. */
export function pythonImport(env: PythonEnvironment, moduleName: string): Promise<ProcessResult> {
  // The name travels as an argument, never pasted into the code.
  return env.run("import importlib, sys; print(importlib.import_module(sys.argv[1]).__file__)", [moduleName]);
}

export interface Credentials {
  readonly username: string;
  readonly password: string;
}

/**
 * `twine upload` to a legacy upload URL (e.g. http://127.0.0.1:PORT/legacy/). twine 4.0.2
 * reports results and errors (the reason phrase included) on stdout, not stderr.
 */
export async function twineUpload(
  repositoryUrl: string,
  files: readonly string[],
  auth: Credentials,
  extraArgs: readonly string[] = [],
): Promise<ProcessResult> {
  const argv = [TWINE, "--no-color", "upload", "--repository-url", repositoryUrl];
  argv.push("-u", auth.username, "-p", auth.password, "--non-interactive", "--disable-progress-bar");
  argv.push(...extraArgs, ...files);
  const env = cleanEnv({
    // twine forces rich into terminal mode, so even with --no-color its output carries bold
    // escape codes and wraps at 80 columns, splitting long reason phrases. A dumb terminal
    // gets no escape codes; an explicit size keeps each message on one line.
    TERM: "dumb",
    COLUMNS: "1000",
    LINES: "50",
    // With -u and -p given twine needs no keyring; make sure it never reaches for one.
    PYTHON_KEYRING_BACKEND: "keyring.backends.null.Keyring",
  });
  const result = await runCommand(argv, { env, cwd: env.HOME ?? tmpdir() });
  // rich pads every log line to the full 1000 columns.
  return { ...result, stdout: withoutPadding(result.stdout), stderr: withoutPadding(result.stderr) };
}

function withoutPadding(text: string): string {
  return text.replace(/[ \t]+$/gm, "");
}

/**
 * Python 2.7's easy_install (setuptools 41.2) into targetDir, dependencies resolved from the
 * index. Pass a 2.7 environment's installDir to import the result with that environment:
 * easy_install writes easy-install.pth and a site.py there, and that site.py makes the
 * PYTHONPATH folder read the .pth, so the installed eggs are importable.
 */
export async function easyInstall(
  indexUrl: string,
  requirement: string,
  targetDir: string,
  extraArgs: readonly string[] = [],
): Promise<ProcessResult> {
  // easy_install matches --allow-hosts against host:port, so a bare "127.0.0.1" would block
  // the index itself; allowing exactly the index's address keeps it off every other host.
  const index = new URL(indexUrl);
  if (!isLoopback(index.hostname)) {
    throw new Error(`easyInstall: index URL must be on loopback, got ${indexUrl}`);
  }
  const argv = [findPython("2.7"), "-s", "-m", "easy_install", "--index-url", indexUrl];
  argv.push("--allow-hosts", index.host, "--install-dir", targetDir, ...extraArgs, requirement);
  // easy_install also reads setup.cfg from its working directory: give it an empty one.
  const cwd = await mkdtemp(join(tmpdir(), "pydepot-test-easy-install-"));
  try {
    // It refuses an install dir that is not on sys.path.
    return await runCommand(argv, { env: cleanEnv({ PYTHONPATH: targetDir }), cwd });
  } finally {
    await rm(cwd, { recursive: true, force: true });
  }
}

function isLoopback(hostname: string): boolean {
  return hostname === "localhost" || hostname === "[::1]" || /^127\.\d+\.\d+\.\d+$/.test(hostname);
}
