import type { Command } from "commander";
import { OPERATOR_NAME, readStdin, withServices } from "./context.js";

export function registerUsers(program: Command): void {
  const user = program.command("user").description("manage users and their project roles");
  user
    .command("add <name>")
    .description("create a user (give it a token with `pydepot token create`)")
    .option("--admin", "make the user a site admin")
    .option("--password-stdin", "read a password from standard input")
    .action(async (name: string, options: { admin?: boolean; passwordStdin?: boolean }, command: Command) => {
      const password = options.passwordStdin ? await readStdin() : null;
      await withServices(command, (services) => services.accounts.createUser(name, password, Boolean(options.admin), OPERATOR_NAME));
      console.log(`created user ${name}${options.admin ? " (site admin)" : ""}`);
    });
  user
    .command("password <name>")
    .description("set a user's password from standard input")
    .action(async (name: string, _options, command: Command) => {
      const password = await readStdin();
      await withServices(command, (services) => services.accounts.setPassword(name, password, OPERATOR_NAME));
      console.log(`password set for ${name}`);
    });
  user
    .command("grant <name> <project> <role>")
    .description("give a user a role on a project: view, upload or admin")
    .action(async (name: string, project: string, role: string, _options, command: Command) => {
      await withServices(command, (services) => services.accounts.grant(name, project, role, OPERATOR_NAME));
      console.log(`${name} is now ${role} of ${project}`);
    });
}
