import type { Command } from "commander";
import { OPERATOR, withServices } from "./context.js";

export function registerImport(program: Command): void {
  program
    .command("import")
    .description("register every wheel, egg and sdist under a folder, following symbolic links, or one file (safe to run again)")
    .argument("<dir|file>", "a folder (searched with its subfolders) or one distribution file")
    .action(async (directory: string, _options, command: Command) => {
      const report = await withServices(command, (services) => services.imports.importDirectory(OPERATOR, directory));
      for (const file of report.added) console.log(`added     ${file}`);
      for (const file of report.skipped) console.log(`skipped   ${file} (already there)`);
      for (const { file, reason } of report.rejected) console.log(`rejected  ${file}: ${reason}`);
      for (const { file, reason } of report.ignored) console.log(`ignored   ${file}: ${reason}`);
      console.log(`${report.added.length} added, ${report.skipped.length} skipped, ${report.rejected.length} rejected, ${report.ignored.length} ignored`);
      if (report.rejected.length > 0) process.exitCode = 1;
    });
}
