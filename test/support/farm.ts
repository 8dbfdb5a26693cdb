// A real build farm on this machine: the `pydepot serve` process on a fixed port with its own
// storage (so it can be killed and started again on the same URL), an index seeded with
// `pydepot import` (setuptools and wheel, so no build ever needs the internet), an admin, an
// uploader with a token for twine, an enrolment secret, and real `pydepot agent` processes
// building as unprivileged build users with interpreters those users can run (copies of the pyenv
// Pythons, see unprivileged.ts): the safe set-up is the default one. Everything the tests look at goes through the same doors
// a user has: HTTP (the JSON API, /simple/) and the CLI.
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { twineUpload } from "./clients.js";
import { cleanEnv, expectOk, runCommand, type ProcessResult } from "./commands.js";
import {
  describeJob,
  FINAL_STATUSES,
  indexFilenames,
  listJobs,
  showJob,
  waitFor,
  type JobDetails,
  type JobRow,
} from "./farm-api.js";
import { buildToolWheels } from "./packages.js";
import { claimBuildUser, releaseBuildUser, sharedPython, userIds } from "./unprivileged.js";
import { freePort } from "./ports.js";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const MAIN = join(ROOT, "dist", "main.js");

export interface FarmSettings {
  lease_seconds?: number;
  max_attempts?: number;
  build_timeout_seconds?: number;
  long_poll_seconds?: number;
}

export interface FarmOptions {
  /** A pydepot.toml for the server and the CLI (PYDEPOT_CONFIG), e.g. clean nodes from checkerToml(). */
  config?: string;
}

export interface AgentProcess {
  readonly name: string;
  /** `--python` arguments. */
  readonly pythons: readonly string[];
  /** `--build-user` arguments: one per slot; no two agents share one. */
  readonly buildUsers: readonly string[];
  /** The agent's --work-dir: every build folder it makes is inside. */
  readonly workDir: string;
  readonly process: ChildProcess;
  /** What the agent printed (it logs to stderr). */
  output(): string;
}

/** The interpreters of the issue: 2.7 builds eggs, 3.11 and 3.12 wheels (3.12 has no setuptools); copies build users can run. */
export function defaultPythons(): string[] {
  return [sharedPython("2.7"), sharedPython("3.11"), sharedPython("3.12")];
}

/**
 * dist/ is what runs: refuse to start without it, and say so when src/ changed after the last
 * build (`npm test` builds first; `npx vitest run test/farm` does not).
 */
let built = false;
function checkBuilt(): void {
  if (built) return;
  if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: run \`npm run build\` (npm test does) before the farm tests`);
  if (newestMtime(join(ROOT, "src"), /\.ts$/) > newestMtime(join(ROOT, "dist"), /\.js$/)) {
    console.warn("test/farm: dist/ is older than src/, so these tests run the previous build: run `npm run build` first");
  }
  built = true;
}

function newestMtime(dir: string, pattern: RegExp): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (entry.isFile() && pattern.test(entry.name)) newest = Math.max(newest, statSync(join(entry.parentPath, entry.name)).mtimeMs);
  }
  return newest;
}

/**
 * `pydepot ARGS` (the built CLI) against a storage folder: the CLI works on the database
 * directly, so it also reaches an in-process test server's storage.
 */
export function pydepot(args: readonly string[], storage: string, env: NodeJS.ProcessEnv = {}): Promise<ProcessResult> {
  checkBuilt();
  const base = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith("PYDEPOT_")));
  return runCommand([process.execPath, MAIN, ...args], { env: { ...base, ...env, PYDEPOT_STORAGE_PATH: storage }, cwd: storage, timeoutMs: 60_000 });
}

/** Output of a child process, kept whole for failure messages. */
function capture(child: ChildProcess): () => string {
  const chunks: string[] = [];
  child.stdout?.setEncoding("utf8").on("data", (chunk: string) => chunks.push(chunk));
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => chunks.push(chunk));
  return () => chunks.join("");
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once("exit", () => resolve()));
}

function tail(text: string, lines = 40): string {
  return text.split("\n").slice(-lines).join("\n");
}

/** How long a test waits for builds: generous for a busy 2-core machine, well inside FARM_TEST_TIMEOUT_MS. */
const BUILD_WAIT_MS = 240_000;
/** For describe() blocks that wait for real builds: longer than any wait here, so the wait's own message is what fails. */
export const FARM_TEST_TIMEOUT_MS = 300_000;

const running = new Set<ChildProcess>();
process.on("exit", () => {
  for (const child of running) child.kill("SIGKILL");
});

export class Farm {
  readonly url: string;
  /** `<url>/simple/` */
  readonly index: string;
  readonly uploadUrl: string;
  readonly storage: string;
  /** Agents' work folders: outside the farm's root, which build users must not enter. */
  readonly workRoot: string;
  readonly agents = new Map<string, AgentProcess>();
  adminToken = "";
  uploaderToken = "";
  enrolmentSecret = "";
  private server: { process: ChildProcess; output: () => string } | null = null;
  private serverOutputs: string[] = [];

  private constructor(
    readonly root: string,
    readonly port: number,
    readonly settings: FarmSettings,
    /** The config file every pydepot process of this farm reads, when it has one. */
    private readonly configFile?: string,
  ) {
    this.url = `http://127.0.0.1:${port}`;
    this.index = `${this.url}/simple/`;
    this.uploadUrl = `${this.url}/legacy/`;
    this.storage = join(root, "storage");
    this.workRoot = mkdtempSync(join(tmpdir(), "pydepot-work-"));
    // Build users pass through to their own build folders; they cannot list what is here.
    chmodSync(this.workRoot, 0o711);
  }

  /** A seeded server with an admin, an uploader and an enrolment secret; no agents yet. */
  static async start(settings: FarmSettings = {}, options: FarmOptions = {}): Promise<Farm> {
    checkBuilt();
    const root = mkdtempSync(join(tmpdir(), "pydepot-farm-"));
    const configFile = options.config === undefined ? undefined : join(root, "pydepot.toml");
    if (configFile) writeFileSync(configFile, options.config!);
    const farm = new Farm(root, await freePort(), { ...settings }, configFile);
    try {
      mkdirSync(farm.storage);
      const seed = join(farm.root, "seed");
      mkdirSync(seed);
      for (const wheel of buildToolWheels()) copyFileSync(wheel, join(seed, basename(wheel)));
      // The first command makes the database; the rest go at once, as commands beside a running server do.
      expectOk(await farm.cli(["import", seed]));
      const tokenOf = async (user: string, ...flags: string[]) => {
        expectOk(await farm.cli(["user", "add", user, ...flags]));
        return expectOk(await farm.cli(["token", "create", user])).stdout.trim();
      };
      const enrol = async () => expectOk(await farm.cli(["agents", "enrol", "--label", "test farm"])).stdout.trim();
      [farm.adminToken, farm.uploaderToken, farm.enrolmentSecret] = await Promise.all([tokenOf("admin", "--admin"), tokenOf("uploader"), enrol(), farm.startServer()]);
      return farm;
    } catch (error) {
      await farm.stop();
      throw error;
    }
  }

  /** The environment of every pydepot process of this farm: its storage, port and farm settings. */
  private env(): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith("PYDEPOT_")));
    env.PYDEPOT_STORAGE_PATH = this.storage;
    Object.assign(env, this.settingsEnv());
    return env;
  }

  private settingsEnv(): Record<string, string> {
    const env: Record<string, string> = {};
    if (this.configFile) env.PYDEPOT_CONFIG = this.configFile;
    env.PYDEPOT_SERVER_HOST = "127.0.0.1";
    env.PYDEPOT_SERVER_PORT = String(this.port);
    for (const [key, value] of Object.entries(this.settings)) env[`PYDEPOT_FARM_${key.toUpperCase()}`] = String(value);
    return env;
  }

  /** `pydepot ARGS` against this farm's storage (the CLI works on the database directly). */
  cli(args: readonly string[]): Promise<ProcessResult> {
    return pydepot(args, this.storage, this.settingsEnv());
  }

  /** `pydepot serve`; resolves once /simple/ answers. */
  async startServer(): Promise<void> {
    if (this.server) throw new Error("the farm's server is already running");
    const child = spawn(process.execPath, [MAIN, "serve"], { env: this.env(), cwd: this.root, stdio: ["ignore", "pipe", "pipe"] });
    running.add(child);
    child.once("exit", () => running.delete(child));
    const output = capture(child);
    this.server = { process: child, output };
    await waitFor(
      `pydepot serve on ${this.url}`,
      async () => {
        if (child.exitCode !== null || child.signalCode !== null) throw new Error(`pydepot serve exited (${child.exitCode ?? child.signalCode}):\n${output()}`);
        const answer = await fetch(this.index).catch(() => null);
        return answer?.status === 200 ? true : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 100, describe: output },
    );
  }

  /** SIGKILL the server, as a crash would; the storage stays. */
  async killServer(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = null;
    server.process.kill("SIGKILL");
    await exited(server.process);
    this.serverOutputs.push(server.output());
  }

  /** Kill the server (SIGKILL) and start it again on the same port and storage, with `changes` to the farm settings. */
  async restartServer(changes: FarmSettings = {}): Promise<void> {
    await this.killServer();
    Object.assign(this.settings, changes);
    await this.startServer();
  }

  /**
   * `pydepot agent` with its own state folder (its token survives a restart) and work folder
   * (which build users can enter), building as `buildUsers` (default: a build user no other agent
   * of this farm has; `slots` of them for that many builds at once). The first start registers
   * with the enrolment secret, read from a file. Resolves once it has reported its targets.
   * `server` replaces the farm's URL (e.g. a request log in front of it).
   */
  async startAgent(
    name: string,
    options: { pythons?: readonly string[]; server?: string; buildUsers?: readonly string[]; slots?: number } = {},
  ): Promise<AgentProcess> {
    const pythons = options.pythons ?? defaultPythons();
    const previous = this.agents.get(name);
    if (previous && previous.process.exitCode === null && previous.process.signalCode === null) throw new Error(`agent ${name} is already running`);
    const buildUsers = options.buildUsers ?? previous?.buildUsers ?? Array.from({ length: options.slots ?? 1 }, () => this.claimBuildUser());
    const workDir = join(this.workRoot, name);
    const secretFile = join(this.root, "enrolment-secret");
    writeFileSync(secretFile, this.enrolmentSecret, { mode: 0o600 });
    const args = [MAIN, "agent", "--server", options.server ?? this.url, "--name", name, "--state-dir", this.stateDir(name), "--work-dir", workDir];
    for (const python of pythons) args.push("--python", python);
    for (const user of buildUsers) args.push("--build-user", user);
    args.push("--enrolment-secret-file", secretFile);
    // The agent makes its builds' environment from nothing itself; the test gives it a clean start anyway.
    const child = spawn(process.execPath, args, { env: cleanEnv(), cwd: this.root, stdio: ["ignore", "pipe", "pipe"] });
    running.add(child);
    child.once("exit", () => running.delete(child));
    const agent: AgentProcess = { name, pythons, buildUsers, workDir, process: child, output: capture(child) };
    this.agents.set(name, agent);
    await waitFor(
      `agent ${name} to report its targets`,
      async () => {
        if (child.exitCode !== null || child.signalCode !== null) throw new Error(`agent ${name} exited (${child.exitCode ?? child.signalCode}):\n${agent.output()}`);
        return agent.output().includes("building for ") ? true : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 100, describe: agent.output },
    );
    return agent;
  }

  private readonly claimedUsers: string[] = [];

  /** A build user no other agent, of this farm or of a test file running beside it, has. */
  private claimBuildUser(): string {
    const user = claimBuildUser();
    this.claimedUsers.push(user);
    return user;
  }

  stateDir(name: string): string {
    return join(this.root, "agents", name, "state");
  }

  /** The token the agent got at registration (from its state folder). */
  agentToken(name: string): string {
    return JSON.parse(readFileSync(join(this.stateDir(name), `${name}.json`), "utf8")).token;
  }

  /** A stored file's bytes, as pip or easy_install download it. */
  async download(project: string, filename: string): Promise<Buffer> {
    const answer = await fetch(`${this.url}/files/${project}/${encodeURIComponent(filename)}`);
    if (answer.status !== 200) throw new Error(`download of ${filename}: ${answer.status} ${answer.statusText}`);
    return Buffer.from(await answer.arrayBuffer());
  }

  /** SIGKILL an agent, as a crash or a power cut would. */
  async killAgent(name: string): Promise<void> {
    const agent = this.agents.get(name);
    if (!agent) throw new Error(`no agent ${name}`);
    agent.process.kill("SIGKILL");
    await exited(agent.process);
  }

  /** Live processes of the agent's build users: its builds and whatever they started, however detached. */
  buildProcesses(name: string): string[] {
    const agent = this.agents.get(name);
    if (!agent) throw new Error(`no agent ${name}`);
    return agent.buildUsers.flatMap((user) => processesOf(user));
  }

  /** twine upload as the uploader; must succeed. */
  async upload(...files: string[]): Promise<void> {
    await this.uploadAs(this.uploaderToken, ...files);
  }

  /** twine upload with an API token (e.g. the admin's); must succeed. */
  async uploadAs(token: string, ...files: string[]): Promise<void> {
    expectOk(await twineUpload(this.uploadUrl, files, { username: "__token__", password: token }));
  }

  jobs(filter: { project?: string; status?: string; target?: string } = {}): Promise<JobRow[]> {
    return listJobs(this.url, filter);
  }

  job(jobId: number): Promise<JobDetails> {
    return showJob(this.url, jobId);
  }

  files(project: string): Promise<string[]> {
    return indexFilenames(this.url, project);
  }

  /**
   * Waits until `project` has `count` jobs (one per target) and none is queued or leased any
   * more; returns them sorted by target.
   */
  async settled(project: string, count: number, timeoutMs = BUILD_WAIT_MS): Promise<JobRow[]> {
    const jobs = await waitFor(
      `${count} settled build jobs of ${project}`,
      async () => {
        const jobs = await this.jobs({ project });
        return jobs.length >= count && jobs.every((job) => FINAL_STATUSES.includes(job.status)) ? jobs : undefined;
      },
      { timeoutMs, describe: () => this.describe(project) },
    );
    return jobs.sort((a, b) => a.targetKey.localeCompare(b.targetKey));
  }

  /** Waits until one job matches; returns it. */
  async waitForJob(what: string, project: string, matches: (job: JobRow) => boolean, timeoutMs = BUILD_WAIT_MS): Promise<JobRow> {
    return waitFor(what, async () => (await this.jobs({ project })).find(matches), { timeoutMs, describe: () => this.describe(project) });
  }

  /** Waits until the job's log has a line containing `text` (proof that the build got that far). */
  async waitForLog(jobId: number, text: string, timeoutMs = BUILD_WAIT_MS): Promise<JobDetails> {
    return waitFor(
      `"${text}" in the log of job ${jobId}`,
      async () => {
        const details = await this.job(jobId);
        return details.log.some((line) => line.text.includes(text)) ? details : undefined;
      },
      { timeoutMs, describe: async () => (await this.describe()) + `\nlog of #${jobId}:\n${(await this.job(jobId)).log.map((line) => line.text).join("\n")}` },
    );
  }

  /** The state of things, for a failure message: jobs, and what the server and agents printed. */
  async describe(project?: string): Promise<string> {
    const parts = [`jobs${project ? ` of ${project}` : ""}:`];
    try {
      parts.push(...(await this.jobs(project ? { project } : {})).map(describeJob));
    } catch (error) {
      parts.push(`(cannot list jobs: ${(error as Error).message})`);
    }
    for (const agent of this.agents.values()) parts.push(`--- agent ${agent.name} ---`, tail(agent.output()));
    parts.push("--- server ---", tail([...this.serverOutputs, this.server?.output() ?? ""].join("")));
    return parts.join("\n");
  }

  /** Kills everything; each agent's watchdog ends its builds (waited for, so the next farm's agents start clean). */
  async stop(): Promise<void> {
    for (const agent of this.agents.values()) {
      agent.process.kill("SIGKILL");
      await exited(agent.process);
    }
    for (const agent of this.agents.values()) {
      await waitFor(`the builds of agent ${agent.name} to end`, async () => (this.buildProcesses(agent.name).length === 0 ? true : undefined), { timeoutMs: 60_000 }).catch(() => undefined);
    }
    await this.killServer();
    rmSync(this.root, { recursive: true, force: true });
    rmSync(this.workRoot, { recursive: true, force: true });
    for (const user of this.claimedUsers) releaseBuildUser(user);
  }
}

/** Live (not zombie) processes of a user, as `ps` lists them: "PID COMMAND" lines. */
export function processesOf(user: string): string[] {
  let listing = "";
  try {
    listing = execFileSync("ps", ["-U", String(userIds(user).uid), "-o", "pid=,stat=,args="], { encoding: "utf8" });
  } catch (error) {
    listing = String((error as { stdout?: string }).stdout ?? ""); // ps exits 1 when it lists nothing
  }
  return listing
    .split("\n")
    .map((line) => line.trim().split(/\s+/))
    .filter(([pid, stat]) => pid && !stat.startsWith("Z"))
    .map(([pid, , ...args]) => `${pid} ${args.join(" ")}`);
}
