import os from "node:os";
import path from "node:path";
import type { Command } from "commander";
import { runAgent } from "../agent/main.js";

export function registerAgent(program: Command): void {
  program
    .command("agent")
    .description("run a build agent on this host: lease build jobs and upload the eggs and wheels")
    .requiredOption("--server <url>", "the pydepot server, e.g. http://pydepot.internal:8080")
    .option("--name <name>", "this agent's name", os.hostname())
    .option("--python <path[:egg|:wheel|:egg+wheel]>", "an interpreter to build with (repeatable; default: every one found)", collect, [])
    .option("--enrolment-secret <secret>", "needed on first run only (default: $PYDEPOT_ENROLMENT_SECRET)", process.env.PYDEPOT_ENROLMENT_SECRET)
    .option("--state-dir <dir>", "where the agent keeps its token", path.join(os.homedir(), ".pydepot-agent"))
    .action(async (options: { server: string; name: string; python: string[]; enrolmentSecret?: string; stateDir: string }) => {
      await runAgent({ server: options.server, name: options.name, pythons: options.python, enrolmentSecret: options.enrolmentSecret, stateDir: options.stateDir });
    });
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}
