import type { Command } from "commander";
import type { CheckRow } from "../store/checks.js";
import type { BuildProvenance } from "../store/files.js";
import { OPERATOR, withServices } from "./context.js";

export function registerChecks(program: Command): void {
  program
    .command("check <file-or-project>")
    .description("check eggs and wheels on clean nodes now and print the verdicts")
    .option("--node <name>", "only on this node")
    .action(async (target: string, options: { node?: string }, command: Command) => {
      await withServices(command, async (services) => {
        const queued = services.checks.request(target);
        await services.checks.runDue(options.node);
        for (const check of queued) console.log(describe(services.stores.checks.byId(check.id)!));
      });
    });
  program
    .command("checks <filename>")
    .description("show a file's verification and every check of it, with logs")
    .option("--json", "print JSON")
    .action(async (filename: string, options: { json?: boolean }, command: Command) => {
      const { file, checks } = await withServices(command, (services) => services.checks.checksOf(OPERATOR, filename));
      if (options.json) return console.log(JSON.stringify({ file, checks }, null, 2));
      console.log(`${file.filename}: ${file.verification}${file.degraded ? " (degraded)" : ""}`);
      if (file.holdReason) console.log(`held off /simple/ (listed on /staging/simple/): ${file.holdReason}`);
      if (file.provenance) console.log(describeProvenance(file.provenance));
      for (const check of checks) {
        console.log(describe(check));
        if (check.log) console.log(check.log.replace(/^/gm, "    "));
      }
    });
  const nodes = program.command("node").description("clean nodes from the configuration");
  nodes
    .command("list", { isDefault: true })
    .description("each node's health and last error")
    .action(async (_options, command: Command) => {
      const health = await withServices(command, (services) => services.checks.health(OPERATOR));
      if (health.length === 0) console.log("no node has been contacted yet (nodes are configured in [[nodes]] of the config file)");
      for (const row of health) console.log(`${row.node}\t${row.healthy ? "healthy" : "unhealthy"}\t${row.checkedAt}\t${row.lastError}`);
    });
  nodes
    .command("probe <name>")
    .description("ask each interpreter of a node what it is and record what it runs at start-up (also ends a quarantine)")
    .action(async (name: string, _options, command: Command) => {
      const probes = await withServices(command, (services) => {
        for (const warning of services.nodeTrust.rootWarnings(name)) console.error(warning);
        return services.checks.probe(name);
      });
      for (const [interpreter, probe] of Object.entries(probes)) {
        console.log(`${interpreter}\tPython ${probe.version}\tegg platform ${probe.egg_platform}\t${probe.wheel_tags.length} wheel tags, first ${probe.wheel_tags[0]}`);
      }
    });
}

function describe(check: CheckRow): string {
  const where = check.node ? ` on ${check.node} ${check.interpreter ?? ""}` : "";
  const missing = check.missingLibraries.length ? ` missing ${check.missingLibraries.join(", ")}` : "";
  return `#${check.id}\t${check.status}\t${check.filename}${where}\t${check.reason}${missing}`;
}

function describeProvenance(provenance: BuildProvenance): string {
  return `built by job #${provenance.jobId} (lease ${provenance.attempt}) on agent ${provenance.agent} from sdist sha256 ${provenance.sdistSha256}, build log sha256 ${provenance.logSha256}`;
}
