#!/usr/bin/env node
import { Command } from "commander";
import { registerAgent } from "./cli/agent.js";
import { registerAgents } from "./cli/agents.js";
import { registerChecks } from "./cli/checks.js";
import { registerConfig } from "./cli/config.js";
import { registerImport } from "./cli/import.js";
import { registerJobs } from "./cli/jobs.js";
import { registerNginxConfig } from "./cli/nginx-config.js";
import { registerReleases } from "./cli/releases.js";
import { registerServe } from "./cli/serve.js";
import { registerTokens } from "./cli/tokens.js";
import { registerUsers } from "./cli/users.js";
import { AppError } from "./core/errors.js";

const program = new Command("pydepot")
  .description("An internal Python package index: eggs, wheels and sdists for pip, easy_install and twine")
  .option("-c, --config <file>", "configuration file (default: $PYDEPOT_CONFIG or ./pydepot.toml)")
  .showHelpAfterError();

const commands = [registerServe, registerConfig, registerUsers, registerTokens, registerImport, registerReleases, registerAgent, registerAgents, registerJobs, registerNginxConfig, registerChecks];
for (const register of commands) register(program);

program.parseAsync().catch((error: unknown) => {
  if (!(error instanceof AppError)) throw error;
  console.error(`pydepot: ${error.message}`);
  process.exit(error.status === 2 ? 2 : 1);
});
