import type { Command } from "commander";
import { withServices } from "./context.js";

export function registerFsck(program: Command): void {
  program
    .command("fsck")
    .description("check that every file row has its file with the right size and sha256, every file has a row, and tmp/ holds no leftovers")
    .option("--repair", "repair what is safe: unrecorded files to lost+found/, leftovers swept, .metadata rebuilt from its wheel (a file a row points to is never deleted)")
    .action(async (options: { repair?: boolean }, command: Command) => {
      const problems = await withServices(command, (services) => services.fsck.check(Boolean(options.repair)));
      for (const problem of problems) {
        console.log(`${problem.kind.padEnd(10)} ${problem.path}: ${problem.detail}${problem.repair ? ` (repaired: ${problem.repair})` : ""}`);
      }
      const left = problems.filter((problem) => !problem.repair).length;
      console.log(problems.length === 0 ? "no problems: the files and the database agree" : `${problems.length} problem(s), ${problems.length - left} repaired, ${left} left`);
      if (left > 0) process.exitCode = 1;
    });
}
