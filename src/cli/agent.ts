import { readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Command } from "commander";
import { runAgent } from "../agent/main.js";
import { AppError } from "../core/errors.js";

interface AgentFlags {
  server: string;
  name: string;
  python: string[];
  buildUser: string[];
  buildAsAgentUser?: boolean;
  enrolmentSecretFile?: string;
  stateDir: string;
  workDir: string;
}

export function registerAgent(program: Command): void {
  program
    .command("agent")
    .description("run a build agent on this host: lease build jobs, build them as unprivileged users, upload the eggs and wheels")
    .requiredOption("--server <url>", "the pydepot server, e.g. http://pydepot.internal:8080")
    .option("--name <name>", "this agent's name", os.hostname())
    .option("--python <path[:egg|:wheel|:egg+wheel]>", "an interpreter to build with (repeatable; default: every working one found)", collect, [])
    .option("--build-user <name>", "an unprivileged user builds run as, one per build slot (repeatable; the agent must run as root)", collect, [])
    .option("--build-as-agent-user", "run builds as the agent's own user (they can read its token): for a single-user test host only")
    .option("--enrolment-secret-file <file>", "first run only: read the enrolment secret from FILE, or - for stdin (default: $PYDEPOT_ENROLMENT_SECRET)")
    .option("--state-dir <dir>", "where the agent keeps its token (made mode 0700)", path.join(os.homedir(), ".pydepot-agent"))
    .option("--work-dir <dir>", "where build folders are made; the build users must be able to enter it", os.tmpdir())
    .action(async (flags: AgentFlags) => {
      await runAgent({
        server: flags.server,
        name: flags.name,
        pythons: flags.python,
        enrolmentSecret: enrolmentSecret(flags.enrolmentSecretFile),
        stateDir: flags.stateDir,
        buildUsers: flags.buildUser,
        buildAsAgentUser: flags.buildAsAgentUser === true,
        workDir: flags.workDir,
      });
    });
}

/** Never from the command line: `ps` shows every process's arguments to every user. */
function enrolmentSecret(file: string | undefined): string | undefined {
  if (file === undefined) return process.env.PYDEPOT_ENROLMENT_SECRET || undefined;
  try {
    return readFileSync(file === "-" ? 0 : file, "utf8").trim() || undefined;
  } catch (error) {
    throw new AppError(2, `cannot read the enrolment secret from ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}
