import type { Command } from "commander";
import { OPERATOR, withServices } from "./context.js";

export function registerSmoke(program: Command): void {
  const smoke = program.command("smoke").description("a project's smoke check: Python the checker runs after the imports on every interpreter");
  smoke
    .command("set <project> <code>")
    .description("set the smoke check (a failing one fails the file on that interpreter)")
    .action(async (project: string, code: string, _options, command: Command) => {
      const row = await withServices(command, (services) => services.smokeChecks.set(OPERATOR, project, code));
      console.log(`smoke check of ${row.project} set by ${row.setBy}; it runs in the next checks (pydepot check ${row.project} to run them now)`);
    });
  smoke
    .command("show <project>")
    .description("print the smoke check and who set it")
    .action(async (project: string, _options, command: Command) => {
      const row = await withServices(command, (services) => services.smokeChecks.show(OPERATOR, project));
      console.log(row ? `set by ${row.setBy} at ${row.setAt}:\n${row.code}` : `${project} has no smoke check`);
    });
  smoke
    .command("clear <project>")
    .description("remove the smoke check")
    .action(async (project: string, _options, command: Command) => {
      await withServices(command, (services) => services.smokeChecks.clear(OPERATOR, project));
      console.log(`smoke check of ${project} removed`);
    });
}
