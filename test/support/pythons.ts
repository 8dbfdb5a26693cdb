// Finding the interpreters the client matrix runs on. A missing one fails the test that
// needs it, loudly: a skipped client is a client nobody tested.
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { cleanEnv } from "./commands.js";

const found = new Map<string, string>();

/**
 * Absolute path of a Python "X.Y" interpreter: first from PYDEPOT_TEST_PYTHONS (a
 * colon-separated list of interpreter paths, each asked for its version), then the newest
 * <pyenv root>/versions/X.Y.N/bin/pythonX.Y. Throws, naming every place it looked.
 */
export function findPython(version: string): string {
  if (!/^\d+\.\d+$/.test(version)) {
    throw new Error(`findPython: expected a version like "3.11", got ${JSON.stringify(version)}`);
  }
  const cached = found.get(version);
  if (cached !== undefined) return cached;

  const looked: string[] = [];
  let path: string | undefined;
  const listed = (process.env.PYDEPOT_TEST_PYTHONS ?? "").split(":").filter((entry) => entry !== "");
  if (listed.length > 0) {
    path = listed.map((entry) => resolve(entry)).find((entry) => reportedVersion(entry) === version);
    looked.push(`PYDEPOT_TEST_PYTHONS (${listed.join(", ")})`);
  }
  if (path === undefined) {
    const versionsDir = join(process.env.PYENV_ROOT ?? join(homedir(), ".pyenv"), "versions");
    path = fromPyenv(versionsDir, version);
    looked.push(join(versionsDir, `${version}.*`, "bin", `python${version}`));
  }
  if (path === undefined) {
    throw new Error(`no Python ${version} interpreter found; looked in ${looked.join(" and ")}`);
  }
  found.set(version, path);
  return path;
}

function fromPyenv(versionsDir: string, version: string): string | undefined {
  if (!existsSync(versionsDir)) return undefined;
  const prefix = `${version}.`;
  const releases = readdirSync(versionsDir)
    .filter((name) => name.startsWith(prefix) && /^\d+$/.test(name.slice(prefix.length)))
    .sort((a, b) => Number(b.slice(prefix.length)) - Number(a.slice(prefix.length)));
  for (const release of releases) {
    const candidate = join(versionsDir, release, "bin", `python${version}`);
    if (existsSync(candidate)) return candidate;
  }
  return undefined;
}

// Asks the interpreter itself; a path such as /usr/bin/python3 says nothing about its version.
function reportedVersion(interpreter: string): string | undefined {
  try {
    return execFileSync(interpreter, ["-c", 'import sys;print("%d.%d"%sys.version_info[:2])'], {
      env: cleanEnv(),
      encoding: "utf8",
      timeout: 30_000,
    }).trim();
  } catch {
    return undefined;
  }
}
