// What the suite needs to run builds and checks as unprivileged users, as the security model asks
// of a real deployment: system users with no home (but one) and no rights (created by the global setup),
// and interpreters they can run. The pyenv Pythons live under root's home, which other users
// cannot enter, and load libpython from there; the global setup makes a copy of each version
// outside it (files hard-linked, owned by root and read-only to others; the binary copied and
// pointed at its own lib/ with patchelf), like a system Python on a real host.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { findPython } from "./pythons.js";

/**
 * Users the global setup creates: builds run as BUILD_USERS (one per slot), checks log in as
 * NODE_USER, shared by every test file. SOLE_NODE_USER is the login of one test's node only
 * (exclusive_login: each check kills every other process of its login). An agent ends every
 * process of its build users, so no two agents may share one, even in test files running side
 * by side: take one with claimBuildUser().
 */
export const BUILD_USERS = ["pydepot-build1", "pydepot-build2", "pydepot-build3", "pydepot-build4"] as const;
export const NODE_USER = "pydepot-node";
export const SOLE_NODE_USER = "pydepot-node-sole";
/** The one node login with a home folder (HOME_NODE_HOME), whose files the login-files test plants. */
export const HOME_NODE_USER = "pydepot-node-home";
export const HOME_NODE_HOME = "/home/pydepot-node-home";
/** The login of the fork bomb's node only: the process limit counts every process of a login. */
export const BOMBED_NODE_USER = "pydepot-node-bombed";
/** Logins of test nodes: sshd must accept keys for them. */
export const NODE_USERS: readonly string[] = [NODE_USER, SOLE_NODE_USER, HOME_NODE_USER, BOMBED_NODE_USER];
export const TEST_USERS: readonly string[] = [...BUILD_USERS, ...NODE_USERS];

/** Versions copied for unprivileged users. */
export const SHARED_VERSIONS = ["2.7", "3.11", "3.12"] as const;
export const SHARED_PYTHONS_ROOT = "/opt/pydepot-test/pythons";

/** The unprivileged-runnable copy of a pyenv Python "X.Y" (the global setup makes it). */
export function sharedPython(version: string): string {
  const original = findPython(version);
  const release = basename(dirname(dirname(original)));
  const copy = join(SHARED_PYTHONS_ROOT, release, "bin", basename(original));
  if (!existsSync(copy)) throw new Error(`${copy} is missing: the global setup (test/support/global-setup.ts) makes it from ${original}`);
  return copy;
}

/** uid and gid of a user, as spawn() takes them. */
export function userIds(name: string): { uid: number; gid: number } {
  const uid = Number(execFileSync("id", ["-u", name], { encoding: "utf8" }).trim());
  const gid = Number(execFileSync("id", ["-g", name], { encoding: "utf8" }).trim());
  return { uid, gid };
}

/** One folder per claimed build user, holding the claiming process's pid (mkdir is atomic across test workers). */
const CLAIMS = join(tmpdir(), "pydepot-test-build-user-claims");

/** A build user no other live test process holds; give it back with releaseBuildUser(). */
export function claimBuildUser(): string {
  mkdirSync(CLAIMS, { recursive: true });
  for (let pass = 0; pass < 2; pass++) {
    for (const user of BUILD_USERS) {
      const claim = join(CLAIMS, user);
      try {
        mkdirSync(claim);
        writeFileSync(join(claim, "pid"), String(process.pid));
        return user;
      } catch {
        if (pass === 1 && claimedByDeadProcess(claim)) rmSync(claim, { recursive: true, force: true });
      }
    }
  }
  throw new Error(`every build user (${BUILD_USERS.join(", ")}) is claimed by a live test process (see ${CLAIMS})`);
}

export function releaseBuildUser(user: string): void {
  const claim = join(CLAIMS, user);
  if (existsSync(join(claim, "pid")) && readFileSync(join(claim, "pid"), "utf8") === String(process.pid)) rmSync(claim, { recursive: true, force: true });
}

function claimedByDeadProcess(claim: string): boolean {
  const pid = existsSync(join(claim, "pid")) ? Number(readFileSync(join(claim, "pid"), "utf8")) : 0;
  if (!pid) return false; // being written right now
  try {
    process.kill(pid, 0);
    return false;
  } catch {
    return true;
  }
}
