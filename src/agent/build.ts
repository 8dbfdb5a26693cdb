import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { createWriteStream, type Stats } from "node:fs";
import { lstat, mkdir, readdir } from "node:fs/promises";
import path from "node:path";
import { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { MAX_LOG_LINE_CHARS } from "../core/farm.js";
import type { FarmClient } from "./client.js";
import type { Interpreter } from "./interpreters.js";
import { describeLimits, DISK_CHECK_MS, diskShortage, killedBy, limitedCommand } from "./limits.js";
import type { LeasedJobMessage } from "./messages.js";
import { linkedLibraries } from "./natives.js";
import { buildSpawnOptions, endProcesses, giveFile, makeWorkDir, removeWorkDir, sweepUser, type BuildUser } from "./sandbox.js";

export interface BuildOutcome {
  status: "succeeded" | "failed";
  reason: string;
  files: { path: string; linkedLibraries: string[] }[];
}

export type LogSink = (stream: string, text: string) => void;

/** One build slot: the user its builds run as (null: the agent's own user) and where their folders go. */
export interface Slot {
  user: BuildUser | null;
  workRoot: string;
}

/**
 * Build one job as the slot's user, in a fresh folder it owns, with an environment made from
 * nothing: the sdist from the index (hash checked), build requirements from the staging index
 * with the job's own read-only credential, every process of the build ended when it exits or
 * at the limit. The caller removes `workDir` (endJob) after reporting.
 */
export async function buildJob(
  job: LeasedJobMessage,
  interpreter: Interpreter,
  client: FarmClient,
  slot: Slot,
  log: LogSink,
  abort: AbortSignal,
): Promise<BuildOutcome & { workDir: string }> {
  const folders = await makeWorkDir(slot.workRoot, job.id, slot.user);
  try {
    return { ...(await buildIn(folders, job, interpreter, client, slot, log, abort)), workDir: folders.workDir };
  } catch (error) {
    return { status: "failed", reason: (error as Error).message, files: [], workDir: folders.workDir };
  }
}

async function buildIn(
  { workDir, home, tmp, out }: { workDir: string; home: string; tmp: string; out: string },
  job: LeasedJobMessage,
  interpreter: Interpreter,
  client: FarmClient,
  slot: Slot,
  log: LogSink,
  abort: AbortSignal,
): Promise<BuildOutcome> {
  const fail = (reason: string) => ({ status: "failed" as const, reason, files: [] });
  const sdist = path.join(workDir, job.sdist.filename);
  const sha256 = await download(client, job.sdist.path, sdist);
  if (sha256 !== job.sdist.sha256) return fail(`sdist hash mismatch: expected ${job.sdist.sha256}, got ${sha256}`);
  await giveFile(sdist, null, slot.user);
  const index = client.stagingIndexUrl();
  await handOverCredential(home, index, job.buildToken, slot.user);
  const env = buildEnvironment(home, tmp, index, slot.user);
  const context = { slot, env, log, abort, python: interpreter.executable };
  log("agent", describeLimits());
  let command: string[];
  let cwd = workDir;
  if (job.target.kind === "egg") {
    cwd = await unpack(sdist, path.join(workDir, "src"), context);
    command = [interpreter.executable, "setup.py", "bdist_egg", "--dist-dir", out];
  } else {
    // No --isolated: it would make pip ignore PIP_INDEX_URL. The environment is built from
    // nothing and PIP_CONFIG_FILE=/dev/null skips every pip.conf, which is what --isolated was for.
    // --verbose: pip shows the build backend's output (each extension compiled, the compiler's
    // errors) only then, and the server tells a degraded build from that log.
    command = [interpreter.executable, "-m", "pip", "wheel", "--verbose", "--no-deps", "--no-cache-dir", "--disable-pip-version-check", "--wheel-dir", out, sdist];
  }
  const exit = await runLogged(command, { ...context, cwd, timeoutSeconds: job.timeoutSeconds });
  // Nothing of the build may run on and change its output while the agent reads it.
  if (slot.user) await endProcesses(slot.user);
  if (exit !== "ok") return fail(exit);
  // The build user owns the folder: `out` replaced by a symbolic link would make the agent read elsewhere.
  if (!(await lstat(out)).isDirectory()) return fail("the build replaced its output folder");
  const extension = job.target.kind === "egg" ? "egg" : "whl";
  const files = [];
  for (const name of (await readdir(out)).filter((entry) => entry.endsWith(`.${extension}`))) {
    const file = path.join(out, name);
    if (!isBuildsOwn(await lstat(file), slot.user)) return fail(`${name} is not a file the build made: a link, or another user's file`);
    const libraries = await linkedLibraries(file, workDir, slot.user, interpreter.executable);
    log("agent", `${name}: ${libraries.length ? `links ${libraries.join(", ")}` : "links no shared libraries"}`);
    files.push({ path: file, linkedLibraries: libraries });
  }
  if (files.length === 0) return fail(`the build exited 0 but produced no .${extension} file`);
  return { status: "succeeded", reason: "", files };
}

/**
 * A built file the agent may read and upload as the build's: a regular file of the build user's,
 * with no other name. The agent reads as root: a symbolic link, or a hard link to a file of
 * another user's (which Linux allows for a file the build user may write, and FreeBSD for any
 * file on the same filesystem), would make it upload bytes that are not the build's.
 */
function isBuildsOwn(stats: Stats, user: BuildUser | null): boolean {
  return stats.isFile() && stats.nlink === 1 && (user === null || stats.uid === user.uid);
}

/**
 * The job's read-only credential, where pip and setuptools look for one and `ps` does not show
 * it: ~/.netrc for pip (requests reads it for a URL without credentials), ~/.pypirc for
 * easy_install (setuptools' package_index matches its repository to the URL), both mode 0600 and
 * owned by the build user. setup_requires makes setuptools fetch build tools itself:
 * .pydistutils.cfg points it at this index, nowhere else.
 */
async function handOverCredential(home: string, index: string, buildToken: string, user: BuildUser | null): Promise<void> {
  const host = new URL(index).hostname;
  await giveFile(path.join(home, ".netrc"), `machine ${host}\nlogin __token__\npassword ${buildToken}\n`, user);
  await giveFile(path.join(home, ".pypirc"), `[distutils]\nindex-servers = pydepot\n\n[pydepot]\nrepository = ${index}\nusername = __token__\npassword = ${buildToken}\n`, user);
  await giveFile(path.join(home, ".pydistutils.cfg"), `[easy_install]\nindex_url = ${index}\n`, user);
}

/** Nothing of the agent's environment (its configuration, this host's pip and Python settings) reaches a build. */
function buildEnvironment(home: string, tmp: string, index: string, user: BuildUser | null): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH ?? "/usr/local/bin:/usr/bin:/bin",
    LANG: "C.UTF-8",
    HOME: home,
    TMPDIR: tmp,
    USER: user?.name ?? process.env.USER,
    LOGNAME: user?.name ?? process.env.LOGNAME,
    PIP_CONFIG_FILE: "/dev/null",
    PIP_INDEX_URL: index,
    PIP_NO_INPUT: "1",
    PYTHONNOUSERSITE: "1",
  };
}

async function download(client: FarmClient, urlPath: string, target: string): Promise<string> {
  const response = await client.download(urlPath);
  const hash = createHash("sha256");
  const hashing = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      hash.update(chunk);
      done(null, chunk);
    },
  });
  await pipeline(Readable.fromWeb(response.body as import("node:stream/web").ReadableStream), hashing, createWriteStream(target));
  return hash.digest("hex");
}

/** Unpack an sdist (tar.* with tar, zip with the interpreter's zipfile), as the build user, and return its one top folder. */
async function unpack(archive: string, into: string, context: BuildContext): Promise<string> {
  await mkdir(into, { mode: 0o700 });
  await giveFile(into, null, context.slot.user);
  const command = archive.endsWith(".zip") ? [context.python, "-m", "zipfile", "-e", archive, into] : ["tar", "-xf", archive, "-C", into];
  const exit = await runLogged(command, { ...context, abort: new AbortController().signal, cwd: into, timeoutSeconds: 300 });
  if (exit !== "ok") throw new Error(`cannot unpack ${path.basename(archive)}: ${exit}`);
  const entries = await readdir(into, { withFileTypes: true });
  const folders = entries.filter((entry) => entry.isDirectory());
  if (folders.length !== 1) throw new Error(`${path.basename(archive)} does not hold exactly one top-level folder`);
  return path.join(into, folders[0].name);
}

interface BuildContext {
  slot: Slot;
  env: NodeJS.ProcessEnv;
  log: LogSink;
  abort: AbortSignal;
  /** The job's interpreter: it also starts each command under the build limits. */
  python: string;
}

interface RunOptions extends BuildContext {
  cwd: string;
  timeoutSeconds: number;
}

/**
 * Run as the slot's user in a new session, under the build limits, and stream each output line
 * to the log; at the time limit, on cancel or when the disk reserve is reached end every process
 * of the build user (its process group only, for a build run as the agent's own user: that
 * cannot reach a build that left its group).
 */
function runLogged(command: string[], options: RunOptions): Promise<"ok" | string> {
  return new Promise((resolve) => {
    options.log("agent", `$ ${command.join(" ")}`);
    const [program, ...args] = limitedCommand(options.python, command);
    const child = spawn(program, args, buildSpawnOptions(options.slot.user, options.cwd, options.env));
    let verdict: string | null = null;
    // Every sweep started here ends before the command counts as finished: a sweep still running
    // when the next command starts would end that one too.
    const sweeps: Promise<unknown>[] = [];
    const endAll = (user: BuildUser) => sweeps.push(endProcesses(user).catch((error: Error) => options.log("agent", `cannot end the build: ${error.message}`)));
    const end = (reason: string) => {
      verdict = reason;
      if (options.slot.user) return void endAll(options.slot.user);
      try {
        process.kill(-child.pid!, "SIGKILL");
      } catch {
        // the group already exited
      }
    };
    const timer = setTimeout(() => end(`timed out after ${options.timeoutSeconds} s`), options.timeoutSeconds * 1000);
    const onAbort = () => end("cancelled: the server took the job back");
    options.abort.addEventListener("abort", onAbort);
    // A build that fills its folders' filesystem ends before the host's disk is full.
    const diskWatch = setInterval(() => {
      diskShortage(options.slot.workRoot).then(
        (shortage) => shortage && !verdict && end(shortage),
        (error: Error) => options.log("agent", `cannot check the free disk space: ${error.message}`),
      );
    }, DISK_CHECK_MS);
    const stopWatching = () => {
      clearTimeout(timer);
      clearInterval(diskWatch);
    };
    for (const [name, stream] of [["stdout", child.stdout], ["stderr", child.stderr]] as const) {
      const lines = new LineSplitter((line) => options.log(name, line));
      stream.setEncoding("utf8");
      stream.on("data", (chunk: string) => lines.push(chunk));
      stream.on("end", () => lines.end());
    }
    // A process the build left behind may hold its output pipes open: once the build's own
    // process has exited, end the rest, or "close" would wait for them.
    child.on("exit", () => {
      if (options.slot.user) endAll(options.slot.user);
    });
    child.on("error", (error) => {
      stopWatching();
      resolve(`cannot start ${program}: ${error.message}`);
    });
    child.on("close", async (code, signal) => {
      stopWatching();
      options.abort.removeEventListener("abort", onAbort);
      await Promise.all(sweeps);
      if (verdict) resolve(verdict);
      else if (code === 0) resolve("ok");
      else resolve(signal ? killedBy(signal) : `build exited with status ${code}`);
    });
  });
}

/**
 * Output text → lines, a line longer than MAX_LOG_LINE_CHARS cut into pieces of that length. Each
 * chunk is scanned once and only the unfinished line is kept, so the work is linear in the
 * output however it is split into chunks and lines.
 */
class LineSplitter {
  private pending = "";

  constructor(private readonly emit: (line: string) => void) {}

  push(chunk: string): void {
    let start = 0;
    for (let newline = chunk.indexOf("\n"); newline !== -1; newline = chunk.indexOf("\n", start)) {
      this.add(chunk.slice(start, newline));
      this.flush();
      start = newline + 1;
    }
    this.add(chunk.slice(start));
  }

  end(): void {
    if (this.pending) this.flush();
  }

  /** More of the current line: once it is longer than MAX_LOG_LINE_CHARS, that much goes out as a line and the rest goes on. */
  private add(text: string): void {
    let rest = text;
    while (this.pending.length + rest.length > MAX_LOG_LINE_CHARS) {
      const room = MAX_LOG_LINE_CHARS - this.pending.length;
      this.pending += rest.slice(0, room);
      rest = rest.slice(room);
      this.flush();
    }
    this.pending += rest;
  }

  private flush(): void {
    this.emit(this.pending);
    this.pending = "";
  }
}

/** After the result is reported: no process, folder or temporary file of the build is left. */
export async function endJob(workDir: string | null, slot: Slot): Promise<void> {
  if (slot.user) await sweepUser(slot.user);
  if (workDir) await removeWorkDir(workDir);
}
