import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { InvalidArgumentError, type Command } from "commander";
import { AppError } from "../core/errors.js";
import type { LoadedSettings } from "../settings.js";
import { settingsOf } from "./context.js";

/** The unit templates in src/systemd (the same relative place from src/cli and dist/cli). */
const TEMPLATES = new URL("../../src/systemd/", import.meta.url);
/** The program the units start: this very file's entry point, run by this very node. */
const MAIN = fileURLToPath(new URL("../main.js", import.meta.url));
const AGENT_STATE_DIRECTORY = "/var/lib/pydepot-agent";

export interface ServerUnitOptions {
  user: string;
  group: string;
  workingDirectory: string;
}

export interface AgentUnitOptions {
  server: string;
  name?: string;
  python: string[];
  buildUser?: string;
}

/** The unit for `pydepot serve`: as `user`, from `workingDirectory`, writing only where pydepot writes. */
export function renderServerUnit(loaded: LoadedSettings, options: ServerUnitOptions): string {
  const workingDirectory = absolute(options.workingDirectory, "--working-directory");
  const { settings, sources, configPath } = loaded;
  // The default ./storage is inside the working folder; a configured one is where the config says.
  // `-`: a folder not made yet must not stop the unit from starting (pydepot then says what is missing).
  const writable = [unitPath(workingDirectory)];
  if (sources["storage.path"] !== "default") writable.push(`-${unitPath(settings.storage.path)}`);
  if (settings.backup.destination) writable.push(`-${unitPath(path.resolve(workingDirectory, settings.backup.destination))}`);
  return fill(template("pydepot.service.template"), {
    user: name(options.user, "--user"),
    group: name(options.group, "--group"),
    working_directory: unitPath(workingDirectory),
    exec_start: command([process.execPath, MAIN, ...(configPath ? ["--config", configPath] : []), "serve"]),
    read_write_paths: writable.join(" "),
    protect_home: underHome(process.execPath) || underHome(MAIN) ? "read-only" : "yes",
  });
}

/** The unit for `pydepot agent`: as root with a bounded set of capabilities (see the template). */
export function renderAgentUnit(options: AgentUnitOptions): string {
  if (!/^https?:\/\/[^\s"'\\]+$/.test(options.server)) throw new AppError(2, `--server ${JSON.stringify(options.server)} is not an http:// or https:// URL`);
  const args = ["agent", "--server", options.server, "--state-dir", AGENT_STATE_DIRECTORY];
  if (options.name) args.push("--name", name(options.name, "--name"));
  for (const python of options.python) args.push("--python", python);
  if (options.buildUser) args.push("--build-user", name(options.buildUser, "--build-user"));
  return fill(template("pydepot-agent.service.template"), { exec_start: command([process.execPath, MAIN, ...args]) });
}

export function registerSystemd(program: Command): void {
  const systemd = program.command("systemd").description("print a systemd unit: save it as /etc/systemd/system/<name>.service");
  systemd
    .command("server")
    .description("the unit for pydepot serve, with these settings (give the production config with -c)")
    .option("--user <name>", "the user pydepot runs as", "pydepot")
    .option("--group <name>", "its group (default: the user's name)")
    .option("--working-directory <dir>", "where pydepot runs: ./storage and ./pydepot.toml are found here", "/var/lib/pydepot")
    .action((options: { user: string; group?: string; workingDirectory: string }, command: Command) => {
      process.stdout.write(renderServerUnit(settingsOf(command), { ...options, group: options.group ?? options.user }));
    });
  systemd
    .command("agent")
    .description("the unit for pydepot agent on a build host")
    .requiredOption("--server <url>", "the pydepot server, e.g. http://pydepot.internal:8080")
    .option("--name <name>", "the agent's name (default: the host name)")
    .option("--python <path[:egg|:wheel|:egg+wheel]>", "an interpreter to build with (repeatable; default: every one found)", collect, [])
    .option("--build-user <name>", "the unprivileged user builds run as (the agent switches to it)")
    .action((options: AgentUnitOptions) => {
      process.stdout.write(renderAgentUnit(options));
    });
}

function template(file: string): string {
  return readFileSync(new URL(file, TEMPLATES), "utf8");
}

function fill(text: string, values: Record<string, string>): string {
  return text.replace(/\{\{(\w+)\}\}/g, (placeholder, key: string) => {
    if (!(key in values)) throw new Error(`systemd template placeholder ${placeholder} has no value`);
    return values[key];
  });
}

/** An ExecStart= command line: each word quoted when needed; `%` and `$` doubled so systemd takes them literally. */
function command(words: string[]): string {
  return words
    .map((word) => {
      const literal = word.replace(/%/g, "%%").replace(/\$/g, "$$$$");
      return /^[A-Za-z0-9/._:@+=,%$-]+$/.test(literal) ? literal : `"${literal.replace(/[\\"]/g, "\\$&")}"`;
    })
    .join(" ");
}

/** A path in a space-separated list (ReadWritePaths=): no spaces or quotes, `%` doubled. */
function unitPath(value: string): string {
  // eslint-disable-next-line no-control-regex
  if (/[\s"'\\\x00-\x1f]/.test(value)) throw new AppError(2, `${JSON.stringify(value)} cannot go into a systemd unit: use a path without spaces, quotes or backslashes`);
  return value.replace(/%/g, "%%");
}

function absolute(value: string, option: string): string {
  if (!path.isAbsolute(value)) throw new AppError(2, `${option} must be an absolute path: ${value}`);
  return path.normalize(value).replace(/(.)\/$/, "$1");
}

/** User, group and agent names: what useradd accepts. */
function name(value: string, option: string): string {
  if (!/^[a-z_][a-z0-9_.-]{0,31}$/i.test(value)) throw new AppError(2, `${option} ${JSON.stringify(value)} is not a valid name`);
  return value;
}

function underHome(file: string): boolean {
  return /^\/(home|root)(\/|$)/.test(file);
}

function collect(value: string, previous: string[]): string[] {
  if (value === "") throw new InvalidArgumentError("an interpreter path cannot be empty");
  return [...previous, value];
}
