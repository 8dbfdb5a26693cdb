#!/usr/bin/env node
import { Command } from "commander";
import { registerAgent } from "./cli/agent.js";
import { registerAgents } from "./cli/agents.js";
import { registerBackup } from "./cli/backup.js";
import { registerChecks } from "./cli/checks.js";
import { registerConfig } from "./cli/config.js";
import { registerFsck } from "./cli/fsck.js";
import { registerImport } from "./cli/import.js";
import { registerJobs } from "./cli/jobs.js";
import { registerNginxConfig } from "./cli/nginx-config.js";
import { registerReleases } from "./cli/releases.js";
import { registerServe } from "./cli/serve.js";
import { registerSmoke } from "./cli/smoke.js";
import { registerSystemd } from "./cli/systemd.js";
import { printOnlyPrintable } from "./cli/terminal.js";
import { registerTokens } from "./cli/tokens.js";
import { registerUsers } from "./cli/users.js";
import { registerWaivers } from "./cli/waivers.js";
import { AppError } from "./core/errors.js";

printOnlyPrintable();

const program = new Command("pydepot")
  .description("An internal Python package index: eggs, wheels and sdists for pip, easy_install and twine")
  .option("-c, --config <file>", "configuration file (default: $PYDEPOT_CONFIG or ./pydepot.toml)")
  .option("--debug", "on an unexpected error, print where it happened (the stack)")
  // Usage mistakes are one line too, pointing at --help rather than printing all of it.
  .configureOutput({ outputError: (message, write) => write(`pydepot: ${message.replace(/^error: /, "").trim().replace(/\s*\n\s*/g, " ")} (see --help)\n`) });

const commands = [registerServe, registerConfig, registerUsers, registerTokens, registerImport, registerReleases, registerAgent, registerAgents, registerJobs, registerNginxConfig, registerChecks, registerWaivers, registerSmoke, registerBackup, registerFsck, registerSystemd];
for (const register of commands) register(program);

// Every error is one line saying what went wrong and what to do; a stack only when asked for.
program.parseAsync().catch((error: unknown) => {
  if (error instanceof AppError) console.error(`pydepot: ${error.message}`);
  else console.error(`pydepot: unexpected error: ${firstLine(error)} (run again with --debug to see where it happened)`);
  if (program.opts().debug && error instanceof Error) console.error(error.stack);
  process.exit(error instanceof AppError && error.status === 2 ? 2 : 1);
});

function firstLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split("\n")[0];
}
