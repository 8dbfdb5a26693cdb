import { execFile } from "node:child_process";
import { existsSync, readdirSync, realpathSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import type { TargetMessage } from "./messages.js";

const run = promisify(execFile);
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
 * With no `--python` at all, every interpreter found under pyenv and on PATH.
 */
export async function interpreters(specs: string[]): Promise<Interpreter[]> {
  const chosen = specs.length > 0 ? specs.map(parseSpec) : discover().map((executable) => ({ executable, kinds: null }));
  return Promise.all(chosen.map(({ executable, kinds }) => probe(executable, kinds)));
}

function parseSpec(spec: string): { executable: string; kinds: BuildKind[] | null } {
  const match = /^(.*?)(?::((?:egg|wheel)(?:\+(?:egg|wheel))?))?$/.exec(spec)!;
  return { executable: match[1], kinds: match[2] ? (match[2].split("+") as BuildKind[]) : null };
}

function discover(): string[] {
  const pyenvVersions = path.join(process.env.PYENV_ROOT ?? path.join(os.homedir(), ".pyenv"), "versions");
  const candidates = existsSync(pyenvVersions)
    ? readdirSync(pyenvVersions).map((version) => path.join(pyenvVersions, version, "bin", `python${version.split(".").slice(0, 2).join(".")}`))
    : [];
  for (const directory of (process.env.PATH ?? "").split(path.delimiter)) {
    if (!existsSync(directory)) continue;
    for (const name of readdirSync(directory)) if (/^python\d\.\d+$/.test(name)) candidates.push(path.join(directory, name));
  }
  const unique = new Map<string, string>();
  for (const candidate of candidates.filter(existsSync)) unique.set(realpathSync(candidate), candidate);
  return [...unique.values()];
}

async function probe(executable: string, kinds: BuildKind[] | null): Promise<Interpreter> {
  const { stdout } = await run(executable, [path.join(PYTHON_SCRIPTS, "probe.py")], { timeout: 60_000 });
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
