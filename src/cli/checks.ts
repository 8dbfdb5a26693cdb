import type { Command } from "commander";
import type { FileChecks } from "../services/checks.js";
import type { MatrixEntry } from "../services/verdicts.js";
import type { CheckRow } from "../store/checks.js";
import type { BuildProvenance } from "../store/files.js";
import { OPERATOR, withServices } from "./context.js";

export function registerChecks(program: Command): void {
  program
    .command("check <file-or-project>")
    .description("check eggs and wheels on every interpreter they fit on clean nodes now and print the verdicts")
    .option("--node <name>", "only on this node")
    .action(async (target: string, options: { node?: string }, command: Command) => {
      const results = await withServices(command, (services) => services.checks.checkNow(OPERATOR, target, options.node));
      for (const result of results) printMatrix(result);
    });
  program
    .command("checks <filename>")
    .description("show a file's verification, its verdict on each interpreter, and every check of it, with logs")
    .option("--json", "print JSON")
    .action(async (filename: string, options: { json?: boolean }, command: Command) => {
      const result = await withServices(command, (services) => services.checks.checksOf(OPERATOR, filename));
      const { file, checks } = result;
      if (options.json) return console.log(JSON.stringify(result, null, 2));
      printMatrix(result);
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

/** The file's verification, then one line per interpreter: its verdict, where and how long, and why. */
function printMatrix({ file, matrix }: FileChecks): void {
  console.log(`${file.filename}: ${file.verification}${file.degraded ? " (degraded)" : ""}`);
  if (file.holdReason) console.log(`held off /simple/ (listed on /staging/simple/): ${file.holdReason}`);
  if (matrix.length === 0) console.log("  no verdict per interpreter yet (its checks wait for a node, or are older than the matrix)");
  for (const entry of matrix) console.log(`  ${describeEntry(entry)}`);
}

function describeEntry(entry: MatrixEntry): string {
  const check = entry.check;
  const where = check ? ` on ${check.node} ${check.interpreter ?? ""} in ${((check.durationMs ?? 0) / 1000).toFixed(1)} s` : "";
  const waived = entry.waivers.map((waiver) => ` [waived by #${waiver.id} (${waiver.createdBy}): ${waiver.reason}]`).join("");
  const again = entry.rechecking ? " (a new check is waiting)" : "";
  return `Python ${entry.python} ${entry.platform}\t${entry.verdict}${where}\t${entry.reason}${waived}${again}`;
}

function describe(check: CheckRow): string {
  const python = check.python ? ` Python ${check.python}` : "";
  const where = check.node ? ` on ${check.node} ${check.interpreter ?? ""}` : "";
  const status = check.cause === "unresolvable" ? "unresolvable" : check.status;
  const missing = check.missingLibraries.length ? ` missing ${check.missingLibraries.join(", ")}` : "";
  return `#${check.id}\t${status}\t${check.filename}${python}${where}\t${check.reason}${missing}`;
}

function describeProvenance(provenance: BuildProvenance): string {
  return `built by job #${provenance.jobId} (lease ${provenance.attempt}) on agent ${provenance.agent} from sdist sha256 ${provenance.sdistSha256}, build log sha256 ${provenance.logSha256}`;
}
