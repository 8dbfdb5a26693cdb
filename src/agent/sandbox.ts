import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { chmod, chown, lstat, mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import { AppError } from "../core/errors.js";

const run = promisify(execFile);

/**
 * The unprivileged user one build slot runs as. Each slot has its own user, so "every process of
 * this user" is exactly "every process of this slot's build", whatever it did to escape its
 * process group (setsid, double fork).
 */
export interface BuildUser {
  name: string;
  uid: number;
  gid: number;
}

/** World-writable folders a build can leave files in; swept of the build user's files after each job. */
const SHARED_TEMP_FOLDERS = ["/tmp", "/var/tmp", "/dev/shm", "/run/lock"];
/** `ipcrm`'s "remove every System V IPC object I may", verbose: util-linux's spelling, and FreeBSD's. */
const REMOVE_ALL_IPC = process.platform === "freebsd" ? ["-W", "-v"] : ["--all", "--verbose"];
const WORK_DIR_PREFIX = "pydepot-build-";
/** Rounds of kill -1 before giving up on a user whose processes keep coming back (fork bombs end sooner). */
const KILL_ROUNDS = 200;
/** How long a sweep waits for the build user's dead processes to be reaped (see awaitReaping). */
const REAPING_WAIT_MS = 10_000;

/** A build user by name: it must exist, must not be root or the agent's own user, and the agent must be able to become it. */
export async function resolveBuildUser(name: string): Promise<BuildUser> {
  let uid: number;
  let gid: number;
  try {
    uid = Number((await run("id", ["-u", name])).stdout.trim());
    gid = Number((await run("id", ["-g", name])).stdout.trim());
  } catch {
    throw new AppError(2, `there is no user ${name} on this host: create it with \`useradd --system --no-create-home --user-group ${name}\` (see README, Security model)`);
  }
  if (uid === 0) throw new AppError(2, `--build-user ${name} is root: builds run code from uploads, give each slot an unprivileged user of its own`);
  if (uid === process.getuid?.()) {
    throw new AppError(2, `--build-user ${name} is the agent's own user: a build could read the agent's token; use another user, or --build-as-agent-user if you mean it`);
  }
  const user = { name, uid, gid };
  try {
    await run("id", ["-u"], asUser(user));
  } catch (error) {
    throw new AppError(2, `cannot start processes as ${name} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}): run the agent as root, it starts each build as its slot's user`);
  }
  return user;
}

/** spawn()/execFile() options that run a command as the build user, with nothing of the agent's environment. */
function asUser(user: BuildUser | null, env: NodeJS.ProcessEnv = { PATH: process.env.PATH }): { uid?: number; gid?: number; env: NodeJS.ProcessEnv; cwd: string } {
  return user ? { uid: user.uid, gid: user.gid, env, cwd: "/" } : { env, cwd: "/" };
}

/** Why the build user cannot run this interpreter, or null when it can. */
export async function cannotRun(user: BuildUser | null, executable: string): Promise<string | null> {
  try {
    await run(executable, ["-c", "import sys"], { ...asUser(user), timeout: 60_000 });
    return null;
  } catch (error) {
    const detail = String((error as { stderr?: string }).stderr ?? "").trim().split("\n").pop() || (error as Error).message;
    return `${user ? `user ${user.name}` : "the agent's user"} cannot run ${executable}: ${detail}`;
  }
}

/**
 * End every process of the build user, then remove what outlives processes: the jobs it gave
 * cron or at, the files it owns in the shared temporary folders and its System V IPC objects.
 * Returns how many of each it found.
 */
export async function sweepUser(user: BuildUser): Promise<{ processes: number; scheduledJobs: number; files: number; ipcObjects: number }> {
  let processes = await endProcesses(user);
  const scheduledJobs = await removeScheduledJobs(user);
  // What cron or at started between the two.
  if (scheduledJobs > 0) processes += await endProcesses(user);
  return { processes, scheduledJobs, files: await removeTempFiles(user), ipcObjects: await removeIpcObjects(user) };
}

/**
 * `kill -KILL -1` run AS the build user signals every process that user may signal except the
 * caller (POSIX kill(-1), the same on Linux and FreeBSD); repeated until `ps` shows none, so a
 * process forked meanwhile dies in the next round. Returns how many there were.
 */
export async function endProcesses(user: BuildUser): Promise<number> {
  let found = 0;
  for (let round = 0; round < KILL_ROUNDS; round++) {
    const { alive } = await processesOf(user);
    if (alive === 0) {
      await awaitReaping(user);
      return found;
    }
    found = Math.max(found, alive);
    // The shell's kill: procps' /usr/bin/kill refuses the pid -1; sh's builtin is POSIX kill on every system.
    await run("/bin/sh", ["-c", "kill -s KILL -- -1"], asUser(user)).catch(() => undefined);
    if (round > 0) await sleep(10);
  }
  throw new Error(`processes of ${user.name} survive kill -1 (a setuid program?): look with \`ps -U ${user.name}\``);
}

/** Files and folders of the build user in the shared temporary folders; its processes must be gone first. */
async function removeTempFiles(user: BuildUser): Promise<number> {
  let files = 0;
  for (const folder of SHARED_TEMP_FOLDERS.filter(existsSync)) {
    // -xdev: never cross into another filesystem; find follows no symbolic link by default.
    const { stdout } = await run("find", [folder, "-xdev", "-mindepth", "1", "-user", String(user.uid), "-print", "-delete"], { maxBuffer: 64 * 1024 * 1024 }).catch(
      (error) => ({ stdout: String(error.stdout ?? "") }),
    );
    files += stdout.split("\n").filter(Boolean).length;
  }
  return files;
}

/**
 * The build user's crontab and at jobs: each would start as that user during a later build, of
 * another project. `crontab -r` and `atrm` run AS the user remove exactly its own; a host without
 * cron or at has none. Returns how many it removed (a crontab counts as one).
 */
async function removeScheduledJobs(user: BuildUser): Promise<number> {
  const crontab = await run("crontab", ["-r"], asUser(user)).then(() => 1, () => 0);
  const { stdout } = await run("atq", [], asUser(user)).catch(() => ({ stdout: "" }));
  const atJobs = stdout.split("\n").map((line) => line.split(/\s+/)[0]).filter((id) => /^\d+$/.test(id));
  if (atJobs.length > 0) await run("atrm", atJobs, asUser(user));
  return crontab + atJobs.length;
}

/**
 * Shared memory segments, semaphore sets and message queues of the build user. `ipcrm` run AS
 * that user removes exactly those it owns or created (the kernel's rule for IPC_RMID, the same on
 * Linux and FreeBSD), as kill(-1) does for processes. Objects of other users it cannot remove are
 * no failure (FreeBSD's `-W` tries them and says so in its exit status): count what it removed.
 */
async function removeIpcObjects(user: BuildUser): Promise<number> {
  const { stdout } = await run("ipcrm", REMOVE_ALL_IPC, asUser(user)).catch((error) => {
    if (error.code === "ENOENT") throw new Error("ipcrm is missing: install it (util-linux on Linux), the agent removes what builds leave in System V IPC with it");
    return { stdout: String(error.stdout ?? "") };
  });
  return stdout.split("\n").filter((line) => /^remov/i.test(line)).length;
}

/** The user's live processes, and its dead ones (zombies) that no parent has reaped yet. */
async function processesOf(user: BuildUser): Promise<{ alive: number; dead: number }> {
  const { stdout } = await run("ps", ["-U", String(user.uid), "-o", "stat="]).catch((error) => ({ stdout: String(error.stdout ?? "") }));
  const states = stdout.split("\n").map((state) => state.trim()).filter(Boolean);
  const dead = states.filter((state) => state.startsWith("Z")).length;
  return { alive: states.length - dead, dead };
}

/**
 * A zombie still counts against its user's process limit (limits.ts) until its parent reaps it;
 * a killed build's orphans wait for init, which reaps at once on most hosts but only every second
 * or two in some containers. The next build of this user would start with its process budget
 * spent by a fork bomb's dead: wait for them, a while. Zombies whose parent never reaps are left.
 */
async function awaitReaping(user: BuildUser): Promise<void> {
  for (let waited = 0; waited < REAPING_WAIT_MS && (await processesOf(user)).dead > 0; waited += 50) await sleep(50);
}

/** The fresh folder of one build: mode 0700, owned by the build user, with the build's HOME, TMPDIR and output folder. */
export async function makeWorkDir(root: string, jobId: number, user: BuildUser | null): Promise<{ workDir: string; home: string; tmp: string; out: string }> {
  const workDir = await mkdtemp(path.join(root, `${WORK_DIR_PREFIX}${jobId}-`));
  await chmod(workDir, 0o700);
  const folders = { workDir, home: path.join(workDir, "home"), tmp: path.join(workDir, "tmp"), out: path.join(workDir, "out") };
  for (const folder of [folders.home, folders.tmp, folders.out]) await mkdir(folder, { mode: 0o700 });
  if (user) for (const folder of Object.values(folders)) await chown(folder, user.uid, user.gid);
  return folders;
}

/** A file the agent puts in the build's folder, owned by the build user and readable by it alone. */
export async function giveFile(file: string, content: string | null, user: BuildUser | null): Promise<void> {
  if (content !== null) await writeFile(file, content, { mode: 0o600 });
  if (user) await chown(file, user.uid, user.gid);
}

/** Build folders a dead agent left behind under `root`. */
async function leftoverWorkDirs(root: string): Promise<string[]> {
  const entries = await readdir(root).catch(() => [] as string[]);
  const found: string[] = [];
  for (const entry of entries.filter((name) => name.startsWith(WORK_DIR_PREFIX))) {
    const full = path.join(root, entry);
    if ((await lstat(full)).isDirectory()) found.push(full);
  }
  return found;
}

export async function removeWorkDir(workDir: string): Promise<void> {
  await rm(workDir, { recursive: true, force: true });
}

/**
 * Everything a crash can leave: processes, temporary files and IPC objects of every build user,
 * and build folders under `root`. Run at agent start and by the watchdog when the agent dies.
 */
export async function sweepAll(users: BuildUser[], root: string): Promise<string[]> {
  const cleaned: string[] = [];
  for (const user of users) {
    const { processes, scheduledJobs, files, ipcObjects } = await sweepUser(user);
    if (processes || scheduledJobs || files || ipcObjects) {
      cleaned.push(`${processes} process(es), ${scheduledJobs} cron or at job(s), ${files} temporary file(s) and ${ipcObjects} IPC object(s) of ${user.name}`);
    }
  }
  for (const folder of await leftoverWorkDirs(root)) {
    await removeWorkDir(folder);
    cleaned.push(`build folder ${folder}`);
  }
  return cleaned;
}

/** Spawn options for a build command: its own session and process group, as the build user. */
export function buildSpawnOptions(user: BuildUser | null, cwd: string, env: NodeJS.ProcessEnv) {
  return { ...asUser(user, env), cwd, detached: true, stdio: ["ignore", "pipe", "pipe"] as ["ignore", "pipe", "pipe"] };
}
