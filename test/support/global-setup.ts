// vitest globalSetup: the Debian packages the suite drives (nginx, twine, sshd, chromium, the
// wheels seeded into test indexes). Installs what is missing, once per run; costs one dpkg-query per
// package when everything is there.
import { execFile } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { promisify } from "node:util";
import { findPython } from "./pythons.js";
import { HOME_NODE_HOME, HOME_NODE_USER, NODE_USERS, SHARED_PYTHONS_ROOT, SHARED_VERSIONS, TEST_USERS } from "./unprivileged.js";

const run = promisify(execFile);

interface Requirement {
  readonly pkg: string;
  /** A file the suite uses directly, checked after installing. */
  readonly file?: string;
}

const REQUIRED: readonly Requirement[] = [
  { pkg: "nginx-light", file: "/usr/sbin/nginx" },
  { pkg: "twine", file: "/usr/bin/twine" },
  { pkg: "python3-setuptools-whl" },
  { pkg: "python3-wheel-whl" },
  { pkg: "python3-pip-whl" },
  { pkg: "systemd", file: "/usr/bin/systemd-analyze" },
  { pkg: "python3-prometheus-client", file: "/usr/lib/python3/dist-packages/prometheus_client/parser.py" },
  { pkg: "openssh-server", file: "/usr/sbin/sshd" },
  // A login's crontab and at queue are in a node's fingerprint, and go with a build (test/checker/login-files.test.ts,
  // test/farm/isolation.test.ts); the daemons are not started.
  { pkg: "cron", file: "/usr/bin/crontab" },
  { pkg: "at", file: "/usr/bin/atq" },
  { pkg: "bzip2", file: "/usr/bin/bzip2" },
  { pkg: "gcc", file: "/usr/bin/gcc" },
  { pkg: "patchelf", file: "/usr/bin/patchelf" },
  // The browser tests drive Debian's own build through playwright-core (test/support/browser.ts).
  { pkg: "chromium", file: "/usr/bin/chromium" },
];

export default async function setup(): Promise<void> {
  const missing: string[] = [];
  for (const { pkg } of REQUIRED) {
    if (!(await isInstalled(pkg))) missing.push(pkg);
  }
  if (missing.length > 0) await install(missing);
  const absent = REQUIRED.flatMap(({ pkg, file }) => (file !== undefined && !existsSync(file) ? [`${file} (${pkg})`] : []));
  if (absent.length > 0) {
    throw new Error(`test prerequisites installed but still missing: ${absent.join(", ")}`);
  }
  for (const user of TEST_USERS) await ensureUser(user);
  await ensureHome(HOME_NODE_USER, HOME_NODE_HOME);
  for (const user of NODE_USERS) await unlockForKeys(user);
  for (const version of SHARED_VERSIONS) await ensureSharedPython(version);
}

/** A system user with no home, no password and no groups: what builds and node logins run as. */
async function ensureUser(name: string): Promise<void> {
  try {
    await run("id", ["-u", name]);
  } catch {
    await run("useradd", ["--system", "--no-create-home", "--home-dir", "/nonexistent", "--shell", "/bin/sh", "--user-group", name]);
  }
}

/** The user's home folder, its own, and named in the user database (sshd and the shells look there). */
async function ensureHome(name: string, home: string): Promise<void> {
  const { stdout } = await run("getent", ["passwd", name]);
  // usermod refuses to change the home of a user with processes: only when it is not this one yet.
  if (stdout.trim().split(":")[5] !== home) await run("usermod", ["--home", home, name]);
  mkdirSync(home, { recursive: true, mode: 0o755 });
  await run("chown", [`${name}:`, home]);
}

/**
 * useradd leaves the password field "!" (locked), and sshd without PAM refuses a locked account
 * whatever the key: "*" is no password, yet not locked. A node login needs exactly that.
 */
async function unlockForKeys(name: string): Promise<void> {
  await run("usermod", ["-p", "*", name]);
}

/**
 * A copy of a pyenv Python that any user can run (see unprivileged.ts): made once in a temporary
 * folder and renamed into place, so an interrupted copy is never taken for a finished one.
 */
async function ensureSharedPython(version: string): Promise<void> {
  const binary = findPython(version);
  const source = dirname(dirname(binary));
  const target = join(SHARED_PYTHONS_ROOT, basename(source));
  if (existsSync(target)) return retargetBuildConfig(target, source);
  mkdirSync(SHARED_PYTHONS_ROOT, { recursive: true, mode: 0o755 });
  const partial = `${target}.partial-${process.pid}`;
  rmSync(partial, { recursive: true, force: true });
  await run("cp", ["-al", source, partial]);
  const copied = join(partial, "bin", basename(binary));
  // The binary is the one file patchelf changes: break its hard link first.
  rmSync(copied);
  await run("cp", [binary, copied]);
  await run("patchelf", ["--set-rpath", "$ORIGIN/../lib", copied]);
  writeFileSync(join(partial, "COPIED-FOR-PYDEPOT-TESTS"), `hard-linked copy of ${source}\n`);
  renameSync(partial, target);
  retargetBuildConfig(target, source);
}

/**
 * The copy's build configuration (sysconfig data, config Makefile) still names the original's
 * folders, which a build user cannot enter: Python 2.7 links C extensions against libpython from
 * there. Rewrite those files in the copy (a new file renamed into place, so the original keeps its
 * hard-linked bytes). Idempotent: done once, then there is nothing left to replace.
 */
function retargetBuildConfig(target: string, source: string): void {
  const lib = join(target, "lib");
  for (const entry of readdirSync(lib, { recursive: true, withFileTypes: true })) {
    const isConfig = /^_sysconfigdata.*\.py$/.test(entry.name) || (entry.name === "Makefile" && /\/config[^/]*$/.test(entry.parentPath));
    if (!entry.isFile() || !isConfig || !/\/lib\/python[^/]+(\/config[^/]*)?$/.test(entry.parentPath)) continue;
    const file = join(entry.parentPath, entry.name);
    const text = readFileSync(file, "utf8");
    if (!text.includes(source)) continue;
    writeFileSync(`${file}.retarget`, text.split(source).join(target));
    renameSync(`${file}.retarget`, file);
  }
}

async function isInstalled(pkg: string): Promise<boolean> {
  try {
    const { stdout } = await run("dpkg-query", ["-W", "-f=${Status}", pkg]);
    // "deinstall ok config-files" and the like mean the package is not usable.
    return stdout.trim() === "install ok installed";
  } catch {
    return false; // dpkg-query exits 1 for packages it has never heard of
  }
}

async function install(packages: readonly string[]): Promise<void> {
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  const options = { env, maxBuffer: 64 * 1024 * 1024 };
  try {
    await run("apt-get", ["update"], options);
    await run("apt-get", ["install", "-y", "--no-install-recommends", ...packages], options);
  } catch (error) {
    // execFile's message already holds the command and its stderr.
    const detail = error instanceof Error ? error.message : String(error);
    throw new Error(
      `the test suite needs the Debian packages ${packages.join(", ")} and installing them failed ` +
        `(run as root with apt sources reachable, or install them by hand):\n${detail}`,
    );
  }
}
