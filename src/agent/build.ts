import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { createWriteStream } from "node:fs";
import { mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { FarmClient } from "./client.js";
import type { Interpreter } from "./interpreters.js";
import type { LeasedJobMessage } from "./messages.js";
import { linkedLibraries } from "./natives.js";

export interface BuildOutcome {
  status: "succeeded" | "failed";
  reason: string;
  files: { path: string; linkedLibraries: string[] }[];
}

export type LogSink = (stream: string, text: string) => void;

/**
 * Build one job in a fresh folder with a clean environment: the sdist from the index (hash
 * checked), build requirements from the index only, the whole process group killed at the limit.
 * The caller removes `workDir` after reporting.
 */
export async function buildJob(
  job: LeasedJobMessage,
  interpreter: Interpreter,
  client: FarmClient,
  log: LogSink,
  abort: AbortSignal,
): Promise<BuildOutcome & { workDir: string }> {
  const workDir = await mkdtemp(path.join(os.tmpdir(), `pydepot-build-${job.id}-`));
  const fail = (reason: string) => ({ status: "failed" as const, reason, files: [], workDir });
  const sdist = path.join(workDir, job.sdist.filename);
  const sha256 = await download(client, job.sdist.path, sdist);
  if (sha256 !== job.sdist.sha256) return fail(`sdist hash mismatch: expected ${job.sdist.sha256}, got ${sha256}`);
  const out = path.join(workDir, "out");
  const home = path.join(workDir, "home");
  await mkdir(out);
  await mkdir(home);
  const env = cleanEnvironment(home);
  let command: string[];
  let cwd = workDir;
  if (job.target.kind === "egg") {
    cwd = await unpack(interpreter.executable, sdist, path.join(workDir, "src"), env, log);
    // setup_requires makes setuptools fetch build tools itself: point it at this index, nowhere else.
    await writeFile(path.join(home, ".pydistutils.cfg"), `[easy_install]\nindex_url = ${client.indexUrl()}\n`);
    command = [interpreter.executable, "setup.py", "bdist_egg", "--dist-dir", out];
  } else {
    command = [interpreter.executable, "-m", "pip", "wheel", "--no-deps", "--isolated", "--no-cache-dir",
      "--disable-pip-version-check", "--index-url", client.indexUrl(), "--wheel-dir", out, sdist];
  }
  const exit = await runLogged(command, { cwd, env, timeoutSeconds: job.timeoutSeconds, log, abort });
  if (exit !== "ok") return fail(exit);
  const built = (await readdir(out)).filter((name) => name.endsWith(`.${job.target.kind === "egg" ? "egg" : "whl"}`));
  if (built.length === 0) return fail(`the build exited 0 but produced no .${job.target.kind === "egg" ? "egg" : "whl"} file`);
  const files = [];
  for (const name of built) {
    const file = path.join(out, name);
    const libraries = await linkedLibraries(file);
    log("agent", `${name}: ${libraries.length ? `links ${libraries.join(", ")}` : "links no shared libraries"}`);
    files.push({ path: file, linkedLibraries: libraries });
  }
  return { status: "succeeded", reason: "", files, workDir };
}

/** Nothing of this host's Python configuration leaks into a build. */
function cleanEnvironment(home: string): NodeJS.ProcessEnv {
  const kept = Object.entries(process.env).filter(([name]) => !/^(PIP_|PYTHON|VIRTUAL_ENV$|TWINE_|PYDEPOT_)/.test(name));
  return { ...Object.fromEntries(kept), HOME: home, PIP_CONFIG_FILE: "/dev/null", PYTHONNOUSERSITE: "1", LANG: "C.UTF-8" };
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

/** Unpack an sdist (tar.* with tar, zip with the interpreter's zipfile) and return its one top folder. */
async function unpack(python: string, archive: string, into: string, env: NodeJS.ProcessEnv, log: LogSink): Promise<string> {
  await mkdir(into);
  const command = archive.endsWith(".zip") ? [python, "-m", "zipfile", "-e", archive, into] : ["tar", "-xf", archive, "-C", into];
  const exit = await runLogged(command, { cwd: into, env, timeoutSeconds: 300, log, abort: new AbortController().signal });
  if (exit !== "ok") throw new Error(`cannot unpack ${path.basename(archive)}: ${exit}`);
  const entries = await readdir(into, { withFileTypes: true });
  const folders = entries.filter((entry) => entry.isDirectory());
  if (folders.length !== 1) throw new Error(`${path.basename(archive)} does not hold exactly one top-level folder`);
  return path.join(into, folders[0].name);
}

interface RunOptions {
  cwd: string;
  env: NodeJS.ProcessEnv;
  timeoutSeconds: number;
  log: LogSink;
  abort: AbortSignal;
}

/** Run in a new process group, stream each output line to the log, kill the group at the limit. */
function runLogged(command: string[], options: RunOptions): Promise<"ok" | string> {
  return new Promise((resolve) => {
    options.log("agent", `$ ${withoutPasswords(command.join(" "))}`);
    const child = spawn(command[0], command.slice(1), { cwd: options.cwd, env: options.env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
    let verdict: string | null = null;
    const killGroup = (reason: string) => {
      verdict = reason;
      try {
        process.kill(-child.pid!, "SIGKILL");
      } catch {
        // the group already exited
      }
    };
    const timer = setTimeout(() => killGroup(`timed out after ${options.timeoutSeconds} s`), options.timeoutSeconds * 1000);
    const onAbort = () => killGroup("cancelled: the server took the job back");
    options.abort.addEventListener("abort", onAbort);
    for (const [name, stream] of [["stdout", child.stdout], ["stderr", child.stderr]] as const) {
      let pending = "";
      stream.setEncoding("utf8");
      stream.on("data", (chunk: string) => {
        const lines = (pending + chunk).split("\n");
        pending = lines.pop()!;
        for (const line of lines) options.log(name, withoutPasswords(line));
      });
      stream.on("end", () => pending && options.log(name, withoutPasswords(pending)));
    }
    child.on("error", (error) => {
      clearTimeout(timer);
      resolve(`cannot start ${command[0]}: ${error.message}`);
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      options.abort.removeEventListener("abort", onAbort);
      if (verdict) resolve(verdict);
      else if (code === 0) resolve("ok");
      else resolve(signal ? `build killed by ${signal}` : `build exited with status ${code}`);
    });
  });
}

/**
 * The index URL carries the agent token, and tools print URLs (easy_install does, with the
 * password, when the index cannot be reached); the log is readable by every index reader.
 */
function withoutPasswords(text: string): string {
  return text.replace(/:\/\/([^:@/\s]+):[^@/\s]+@/g, "://$1:****@");
}

export async function removeWorkDir(workDir: string): Promise<void> {
  await rm(workDir, { recursive: true, force: true });
}
