import type { Command } from "commander";
import { parseWaiverId } from "../core/parameters.js";
import { describeScope } from "../services/waivers.js";
import type { WaiverRow } from "../store/waivers.js";
import { OPERATOR, withServices } from "./context.js";

interface WaiveOptions {
  version?: string;
  module?: string;
  python?: string;
  degraded?: boolean;
  reason: string;
}

export function registerWaivers(program: Command): void {
  program
    .command("waive <project>")
    .description("accept a failure (or with --degraded a degraded-build hold) so the file is listed; applies to later checks too")
    .option("--version <version>", "only this version (default: every version)")
    .option("--module <module>", "only failed imports of this module and its submodules (default: any failure)")
    .option("--python <X.Y>", "only on this Python, e.g. 2.7 (default: every Python)")
    .option("--degraded", "waive the hold of a degraded build rather than a failed check")
    .requiredOption("--reason <reason>", "why the failure is acceptable (recorded and shown next to the verdict)")
    .action(async (project: string, options: WaiveOptions, command: Command) => {
      const waiver = await withServices(command, (services) => services.waivers.add(OPERATOR, { project, ...options }));
      console.log(`waiver #${waiver.id}: ${describeScope(waiver)}: ${waiver.reason}`);
    });
  program
    .command("waivers <project>")
    .description("a project's waivers, revoked ones too, with who gave and revoked them")
    .option("--json", "print JSON")
    .action(async (project: string, options: { json?: boolean }, command: Command) => {
      const waivers = await withServices(command, (services) => services.waivers.list(OPERATOR, project));
      if (options.json) return console.log(JSON.stringify({ waivers }, null, 2));
      if (waivers.length === 0) console.log(`${project} has no waivers`);
      for (const waiver of waivers) console.log(describeWaiver(waiver));
    });
  program
    .command("unwaive <id>")
    .description("revoke a waiver: the failures it accepted hold their files again")
    .action(async (id: string, _options, command: Command) => {
      const waiverId = parseWaiverId(id);
      const waiver = await withServices(command, (services) => services.waivers.revoke(OPERATOR, waiverId, null));
      console.log(`revoked waiver #${waiver.id}: ${describeScope(waiver)}`);
    });
}

function describeWaiver(waiver: WaiverRow): string {
  const state = waiver.revokedAt ? `revoked by ${waiver.revokedBy} at ${waiver.revokedAt}` : "in force";
  return `#${waiver.id}\t${state}\t${describeScope(waiver)}\t${waiver.reason}\t(by ${waiver.createdBy} at ${waiver.createdAt})`;
}
