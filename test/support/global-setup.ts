// vitest globalSetup: the Debian packages the suite drives (nginx, twine, sshd, the wheels
// seeded into test indexes). Installs what is missing, once per run; costs one dpkg-query per
// package when everything is there.
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { promisify } from "node:util";

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
  { pkg: "openssh-server", file: "/usr/sbin/sshd" },
  { pkg: "bzip2", file: "/usr/bin/bzip2" },
  { pkg: "gcc", file: "/usr/bin/gcc" },
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
