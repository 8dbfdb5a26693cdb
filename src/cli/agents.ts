import { InvalidArgumentError, type Command } from "commander";
import { parseEnrolmentId } from "../core/parameters.js";
import { DEFAULT_ENROLMENT_HOURS, type EnrolmentView } from "../services/agents.js";
import { OPERATOR, OPERATOR_NAME, withServices } from "./context.js";

export function registerAgents(program: Command): void {
  const agents = program.command("agents").description("manage build agents and their enrolment secrets");
  agents
    .command("list", { isDefault: true })
    .description("list agents (online or offline, targets, last seen, current job), then enrolment secrets and their use")
    .option("--json", "print JSON: {agents, enrolments}")
    .action(async (options: { json?: boolean }, command: Command) => {
      const { rows, enrolments } = await withServices(command, (services) => ({ rows: services.agents.list(OPERATOR), enrolments: services.agents.enrolments(OPERATOR) }));
      if (options.json) return console.log(JSON.stringify({ agents: rows, enrolments }, null, 2));
      if (rows.length === 0) console.log("no agents registered");
      for (const row of rows) {
        const state = row.revokedAt ? "revoked" : row.online ? "online" : "offline";
        const jobs = row.currentJobs.length ? `building #${row.currentJobs.join(", #")}` : "idle";
        console.log(`${row.name}\t${state}\tv${row.version}\tlast seen ${row.lastSeenAt}\t${jobs}\t${row.targets.join(" ")}`);
      }
      console.log("");
      if (enrolments.length === 0) console.log("no enrolment secrets");
      for (const enrolment of enrolments) console.log(describeEnrolment(enrolment));
    });
  agents
    .command("enrol")
    .description("create an enrolment secret for new build hosts (printed once); it registers agents until it expires or is used up")
    .option("--label <label>", "what the secret is for", "")
    .option("--hours <hours>", `how long it works (default ${DEFAULT_ENROLMENT_HOURS})`, positiveNumber)
    .option("--uses <count>", "how many agents it may register (default: any number until it expires)", positiveNumber)
    .action(async (options: { label: string; hours?: number; uses?: number }, command: Command) => {
      const { secret, enrolment } = await withServices(command, (services) => {
        const created = services.agents.createEnrolment(options.label, OPERATOR_NAME, { hours: options.hours, uses: options.uses });
        return { secret: created, enrolment: services.agents.enrolmentOf(created) };
      });
      // The secret alone on stdout, so `SECRET=$(pydepot agents enrol)` works; what it allows on stderr.
      console.log(secret);
      console.error(describeEnrolment(enrolment));
    });
  agents
    .command("revoke <name>")
    .description("revoke an agent's token; it is refused from now on")
    .action(async (name: string, _options, command: Command) => {
      await withServices(command, (services) => services.agents.revoke(name, OPERATOR_NAME));
      console.log(`agent ${name} revoked`);
    });
  agents
    .command("unenrol")
    .description("revoke an enrolment secret: it registers no more agents (those it registered keep working)")
    .argument("<id>", "the secret's number, as `agents list` shows it (#3 or 3)")
    .action(async (id: string, _options, command: Command) => {
      const enrolmentId = parseEnrolmentId(id);
      await withServices(command, (services) => services.agents.revokeEnrolment(enrolmentId, OPERATOR_NAME));
      console.log(`enrolment secret #${enrolmentId} revoked; agents it registered keep working`);
    });
}

function describeEnrolment(enrolment: EnrolmentView): string {
  const uses = enrolment.maxUses === null ? `used ${enrolment.uses} time(s)` : `used ${enrolment.uses} of ${enrolment.maxUses}`;
  const until = enrolment.state === "revoked" ? `revoked ${enrolment.revokedAt}` : `${enrolment.state === "expired" ? "expired" : "expires"} ${enrolment.expiresAt}`;
  return `enrolment #${enrolment.id}\t${enrolment.state}\t${uses}\t${until}\t${enrolment.label}`;
}

function positiveNumber(raw: string): number {
  const value = Number(raw);
  if (!(value > 0 && Number.isFinite(value))) throw new InvalidArgumentError(`${JSON.stringify(raw)} is not a number above 0`);
  return value;
}
