import type { Command } from "commander";
import { OPERATOR_NAME, withServices } from "./context.js";

export function registerAgents(program: Command): void {
  const agents = program.command("agents").description("manage build agents");
  agents
    .command("list", { isDefault: true })
    .description("list agents: online or offline, targets, last seen, current job")
    .option("--json", "print JSON")
    .action(async (options: { json?: boolean }, command: Command) => {
      const rows = await withServices(command, (services) => services.agents.list());
      if (options.json) return console.log(JSON.stringify(rows, null, 2));
      for (const row of rows) {
        const state = row.revokedAt ? "revoked" : row.online ? "online" : "offline";
        const jobs = row.currentJobs.length ? `building #${row.currentJobs.join(", #")}` : "idle";
        console.log(`${row.name}\t${state}\tv${row.version}\tlast seen ${row.lastSeenAt}\t${jobs}\t${row.targets.join(" ")}`);
      }
    });
  agents
    .command("enrol")
    .description("create an enrolment secret for a new build host (shown once)")
    .option("--label <label>", "what the secret is for", "")
    .action(async (options: { label: string }, command: Command) => {
      console.log(await withServices(command, (services) => services.agents.createEnrolment(options.label, OPERATOR_NAME)));
    });
  agents
    .command("revoke <name>")
    .description("revoke an agent's token; it is refused from now on")
    .action(async (name: string, _options, command: Command) => {
      await withServices(command, (services) => services.agents.revoke(name, OPERATOR_NAME));
      console.log(`agent ${name} revoked`);
    });
}
