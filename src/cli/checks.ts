import type { Command } from "commander";
import type { CheckRow } from "../store/checks.js";
import type { BuildProvenance } from "../store/files.js";
import { rootLoginWarning } from "../core/node-logins.js";
import { settingsOf, withServices } from "./context.js";

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
      const { file, checks } = await withServices(command, (services) => services.checks.checksOf(filename));
      if (options.json) return console.log(JSON.stringify({ file, checks }, null, 2));
      console.log(`${file.filename}: ${file.verification}${file.degraded ? " (degraded: no compiled code)" : ""}`);
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
      const health = await withServices(command, (services) => services.checks.health());
      for (const row of health) console.log(`${row.node}\t${row.healthy ? "healthy" : "unhealthy"}\t${row.checkedAt}\t${row.lastError}`);
    });
  nodes
    .command("probe <name>")
    .description("ask each interpreter of a node for its version, platform and wheel tags")
    .action(async (name: string, _options, command: Command) => {
      const warning = rootLoginWarning(settingsOf(command).settings.nodes.find((node) => node.name === name) ?? { name, user: "" });
      if (warning) console.error(warning);
      const probes = await withServices(command, (services) => services.checks.probe(name));
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
