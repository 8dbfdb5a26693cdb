import { execFile } from "node:child_process";
import { existsSync, readFileSync, readdirSync, realpathSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { AppError } from "../core/errors.js";
import { targetKey } from "../core/farm.js";
import { bootstrapCommand, bootstrapInput } from "../core/python-bootstrap.js";
import type { TargetMessage } from "./messages.js";

/** Scripts shipped to interpreters as data; they live in src/python for both src/ and dist/ builds. */
export const PYTHON_SCRIPTS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../src/python");

export type BuildKind = "egg" | "wheel";

/** One interpreter the agent builds with, and for which kinds. */
export interface Interpreter {
  executable: string;
  kinds: BuildKind[];
  version: string;
  targets: TargetMessage[];
}

interface Probe {
  implementation: string;
  version: string;
  os: string;
  arch: string;
  sysconfig_platform: string;
  egg_platform: string;
  has_setuptools: boolean;
  wheel_tags: string[];
}

/**
 * `--python PATH[:egg|:wheel|:egg+wheel]`; without a kind, Python 2 builds eggs and Python 3 wheels.
 * Each must run, for the agent and for the build users (`usable` says why not): a named one that
 * does not is an error, checked before the agent registers. With no `--python` at all, every
 * interpreter found under pyenv and on PATH that works, the others skipped with a word why.
 */
export async function interpreters(specs: string[], usable: (executable: string) => Promise<string | null>, log: (message: string) => void): Promise<Interpreter[]> {
  if (specs.length > 0) {
    const named = await Promise.all(
      specs.map(parseSpec).map(async ({ executable, kinds }) => {
        if (!existsSync(executable)) throw new AppError(2, `--python ${executable}: no such file; give the path of an installed interpreter`);
        const found = await probe(executable, kinds).catch((error: Error) => {
          throw new AppError(2, `--python ${executable} does not work (${firstLine(error)}); give the path of a working interpreter`);
        });
        const problem = await usable(executable);
        if (problem) throw new AppError(2, `--python ${executable}: ${problem}; install an interpreter the build users can run (README, Security model)`);
        return found;
      }),
    );
    return onePerTarget(named, true, log);
  }
  const found: Interpreter[] = [];
  for (const executable of discover()) {
    const problem = await probe(executable, null).then(
      async (interpreter) => (await usable(executable)) ?? (found.push(interpreter), null),
      (error: Error) => `it does not run: ${firstLine(error)}`,
    );
    if (problem) log(`skipping ${executable}: ${problem}`);
  }
  if (found.length === 0) throw new AppError(2, "no working Python interpreter found under pyenv or on PATH: pass --python PATH");
  return onePerTarget(found, false, log);
}

/**
 * One interpreter for each target, as the server wants it (a pyenv 3.11 and the system's 3.11
 * are one target): of those found, the first (pyenv's before PATH's); of those named with
 * --python, two for one target are an error before the agent registers.
 */
export function onePerTarget(found: Interpreter[], named: boolean, log: (message: string) => void): Interpreter[] {
  const owners = new Map<string, Interpreter>();
  return found.filter((interpreter) => {
    const keys = interpreter.targets.map(targetKey);
    const taken = keys.find((key) => owners.has(key));
    if (taken === undefined) {
      for (const key of keys) owners.set(key, interpreter);
      return true;
    }
    const owner = owners.get(taken)!.executable;
    if (named) throw new AppError(2, `--python ${owner} and --python ${interpreter.executable} both build for target ${taken}: name one of them`);
    log(`skipping ${interpreter.executable}: ${owner} builds for target ${taken} already`);
    return false;
  });
}

function firstLine(error: Error): string {
  const stderr = String((error as { stderr?: string }).stderr ?? "").trim();
  return (stderr.split("\n").pop() || error.message).slice(0, 200);
}

function parseSpec(spec: string): { executable: string; kinds: BuildKind[] | null } {
  const match = /^(.*?)(?::((?:egg|wheel)(?:\+(?:egg|wheel))?))?$/.exec(spec)!;
  return { executable: match[1], kinds: match[2] ? (match[2].split("+") as BuildKind[]) : null };
}

/** Candidates; pyenv shims are skipped: one exists for every version pyenv ever saw, installed or not. */
function discover(): string[] {
  const pyenvVersions = path.join(process.env.PYENV_ROOT ?? path.join(os.homedir(), ".pyenv"), "versions");
  const candidates = existsSync(pyenvVersions)
    ? readdirSync(pyenvVersions).map((version) => path.join(pyenvVersions, version, "bin", `python${version.split(".").slice(0, 2).join(".")}`))
    : [];
  for (const directory of (process.env.PATH ?? "").split(path.delimiter)) {
    if (!existsSync(directory) || directory.split(path.sep).includes("shims")) continue;
    for (const name of readdirSync(directory)) if (/^python\d\.\d+$/.test(name)) candidates.push(path.join(directory, name));
  }
  const unique = new Map<string, string>();
  for (const candidate of candidates.filter(existsSync)) unique.set(realpathSync(candidate), candidate);
  return [...unique.values()];
}

async function probe(executable: string, kinds: BuildKind[] | null): Promise<Interpreter> {
  const [command, ...args] = bootstrapCommand(executable);
  const scripts = ["fingerprint.py", "probe.py"].map((name) => readFileSync(path.join(PYTHON_SCRIPTS, name), "utf8"));
  const { stdout } = await runWithInput(command, args, bootstrapInput(scripts, {}));
  const facts = JSON.parse(stdout) as Probe;
  const chosenKinds = kinds ?? [facts.version.startsWith("2.") ? "egg" : "wheel"];
  return {
    executable,
    kinds: chosenKinds,
    version: facts.version,
    targets: chosenKinds.map((kind) => ({
      kind,
      implementation: facts.implementation,
      python_version: facts.version,
      os: facts.os,
      arch: facts.arch,
      platform: facts.sysconfig_platform,
      egg_platform: facts.egg_platform,
      wheel_tags: facts.wheel_tags,
    })),
  };
}

/** execFile with a text on stdin (promisified execFile cannot write to the child). */
function runWithInput(command: string, args: string[], input: string): Promise<{ stdout: string }> {
  return new Promise((resolve, reject) => {
    const child = execFile(command, args, { timeout: 60_000 }, (error, stdout, stderr) => (error ? reject(Object.assign(error, { stderr })) : resolve({ stdout })));
    child.stdin?.end(input);
  });
}
