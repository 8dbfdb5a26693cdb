import type { Command } from "commander";
import { parseTokenId } from "../core/parameters.js";
import { OPERATOR_NAME, withServices } from "./context.js";

export function registerTokens(program: Command): void {
  const token = program.command("token").description("manage API tokens (use them as password with username __token__)");
  token
    .command("create <user>")
    .description("create a token and print it once")
    .option("--label <label>", "what the token is for", "")
    .action(async (user: string, options: { label: string }, command: Command) => {
      const created = await withServices(command, (services) => services.accounts.createToken(user, options.label, OPERATOR_NAME));
      console.error(`token #${created.id} for ${user} (shown once; store it now):`);
      console.log(created.token);
    });
  token
    .command("list <user>")
    .description("list a user's tokens")
    .action(async (user: string, _options, command: Command) => {
      const tokens = await withServices(command, (services) => services.accounts.tokens(user));
      if (tokens.length === 0) console.log(`no tokens for ${user} (\`pydepot token create ${user}\` makes one)`);
      for (const row of tokens) {
        console.log(`#${row.id}\t${row.revokedAt ? `revoked ${row.revokedAt}` : "active"}\tcreated ${row.createdAt}\t${row.label}`);
      }
    });
  token
    .command("revoke <id>")
    .description("revoke a token by its number")
    .action(async (id: string, _options, command: Command) => {
      const tokenId = parseTokenId(id);
      await withServices(command, (services) => services.accounts.revokeToken(tokenId, OPERATOR_NAME));
      console.log(`token #${tokenId} revoked`);
    });
}
