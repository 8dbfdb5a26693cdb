import type { Command } from "commander";
import { OPERATOR, withServices } from "./context.js";

export function registerReleases(program: Command): void {
  program
    .command("yank <project> <version>")
    .description("hide a release from new resolutions (PEP 592); pins with == still get it")
    .option("--reason <reason>", "shown by pip to whoever installs it anyway", "")
    .action(async (project: string, version: string, options: { reason: string }, command: Command) => {
      await withServices(command, (services) => services.releases.yank(OPERATOR, project, version, options.reason));
      console.log(`yanked ${project} ${version}`);
    });
  program
    .command("unyank <project> <version>")
    .description("offer a yanked release again")
    .action(async (project: string, version: string, _options, command: Command) => {
      await withServices(command, (services) => services.releases.unyank(OPERATOR, project, version));
      console.log(`unyanked ${project} ${version}`);
    });
  program
    .command("delete <project> <filename>")
    .description("delete one file for good (recorded; its name can never be used again)")
    .action(async (project: string, filename: string, _options, command: Command) => {
      await withServices(command, (services) => services.releases.deleteFile(OPERATOR, project, filename));
      console.log(`deleted ${filename}`);
    });
  program
    .command("release-hold <project> <filename>")
    .description("list a held (degraded or regressed) build on /simple/ after all, saying why")
    .requiredOption("--reason <reason>", "recorded in the history with the hold it ends")
    .action(async (project: string, filename: string, options: { reason: string }, command: Command) => {
      await withServices(command, (services) => services.releases.releaseHold(OPERATOR, project, filename, options.reason));
      console.log(`released the hold of ${filename}`);
    });
}
