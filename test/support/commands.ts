// Running the real Python tools: argv arrays only, an environment that cannot see this
// machine's pip configuration, and results that keep every byte of output for the assertion.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface ProcessResult {
  readonly command: readonly string[];
  /** Exit status, or null when a signal ended the process. */
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RunOptions {
  readonly env: NodeJS.ProcessEnv;
  readonly cwd: string;
  /** A hung client must not hold a test worker forever. */
  readonly timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 300_000;

/**
 * Runs argv[0] with the rest as arguments. Resolves whatever the exit status, so a test can
 * assert on failures too; rejects only when the program cannot be started at all, because a
 * missing tool is a broken machine, not a test result.
 */
export function runCommand(argv: readonly string[], options: RunOptions): Promise<ProcessResult> {
  const [program, ...args] = argv;
  if (program === undefined) throw new Error("runCommand: empty argv");
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  return new Promise((resolve, reject) => {
    // A process group of its own, so a timeout also kills the build backends pip starts.
    const child = spawn(program, args, {
      cwd: options.cwd,
      env: options.env,
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    let timedOut = false;
    child.stdout.on("data", (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on("data", (chunk: Buffer) => stderr.push(chunk));
    const timer = setTimeout(() => {
      timedOut = true;
      if (child.pid !== undefined) process.kill(-child.pid, "SIGKILL");
    }, timeoutMs);
    child.on("error", (error) => {
      clearTimeout(timer);
      reject(new Error(`cannot start ${program}: ${error.message}`));
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      const note = timedOut ? `\n[killed after ${timeoutMs} ms]\n` : "";
      resolve({
        command: argv,
        code,
        signal,
        stdout: Buffer.concat(stdout).toString("utf8"),
        stderr: Buffer.concat(stderr).toString("utf8") + note,
      });
    });
  });
}

/** Throws with the command and its whole output unless it exited 0. Returns the result. */
export function expectOk(result: ProcessResult): ProcessResult {
  if (result.code === 0) return result;
  const status = result.code === null ? `signal ${result.signal}` : `exit status ${result.code}`;
  throw new Error(
    `command failed with ${status}: ${JSON.stringify(result.command)}\n` +
      `--- stdout ---\n${result.stdout}\n--- stderr ---\n${result.stderr}`,
  );
}

// Variables that would let pip, twine, setuptools or Python itself read something other than
// what the test gives them: this machine sets PIP_FIND_LINKS to a folder of wheels, so a test
// could otherwise pass on files pydepot never served.
const DROPPED_PREFIXES = ["PIP_", "TWINE_", "XDG_"];
const DROPPED_NAMES = new Set([
  "PYTHONPATH",
  "PYTHONHOME",
  "PYTHONSTARTUP",
  "PYTHONUSERBASE",
  "VIRTUAL_ENV",
  "HTTP_PROXY",
  "HTTPS_PROXY",
  "ALL_PROXY",
  "NO_PROXY",
]);

let emptyHome: string | undefined;

// One empty HOME per test process: no ~/.pypirc, ~/.pydistutils.cfg or ~/.config/pip.
function isolatedHome(): string {
  if (emptyHome === undefined) {
    const home = mkdtempSync(join(tmpdir(), "pydepot-test-home-"));
    process.on("exit", () => rmSync(home, { recursive: true, force: true }));
    emptyHome = home;
  }
  return emptyHome;
}

/**
 * The environment for every Python tool the tests run. `extra` is applied last; a value of
 * undefined removes that variable.
 */
export function cleanEnv(extra: Readonly<Record<string, string | undefined>> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    const upper = name.toUpperCase();
    if (DROPPED_NAMES.has(upper)) continue;
    if (DROPPED_PREFIXES.some((prefix) => upper.startsWith(prefix))) continue;
    env[name] = value;
  }
  env.PIP_CONFIG_FILE = "/dev/null";
  env.PYTHONNOUSERSITE = "1";
  env.PYTHONDONTWRITEBYTECODE = "1";
  env.HOME = isolatedHome();
  for (const [name, value] of Object.entries(extra)) {
    if (value === undefined) delete env[name];
    else env[name] = value;
  }
  return env;
}
