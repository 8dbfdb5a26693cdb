import type { Command } from "commander";
import { OPERATOR, withServices } from "./context.js";

export function registerImport(program: Command): void {
  program
    .command("import <dir>")
    .description("register every wheel, egg and sdist under a folder (safe to run again)")
    .action(async (directory: string, _options, command: Command) => {
      const report = await withServices(command, (services) => services.imports.importDirectory(OPERATOR, directory));
      for (const file of report.added) console.log(`added     ${file}`);
      for (const file of report.skipped) console.log(`skipped   ${file} (already there)`);
      for (const { file, reason } of report.rejected) console.log(`rejected  ${file}: ${reason}`);
      console.log(`${report.added.length} added, ${report.skipped.length} skipped, ${report.rejected.length} rejected`);
      if (report.rejected.length > 0) process.exitCode = 1;
    });
}
