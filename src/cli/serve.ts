import type { Command } from "commander";
import { startApp } from "../app.js";
import { rootLoginWarning } from "../core/node-logins.js";
import { settingsOf } from "./context.js";

export function registerServe(program: Command): void {
  program
    .command("serve")
    .description("serve the index, uploads and the API")
    .action(async (_options, command: Command) => {
      const { settings } = settingsOf(command);
      for (const node of settings.nodes) {
        const warning = rootLoginWarning(node);
        if (warning) console.error(warning);
      }
      const app = await startApp(settings);
      console.log(`pydepot serving ${app.url}/simple/ (storage ${settings.storage.path})`);
      for (const signal of ["SIGINT", "SIGTERM"] as const) {
        process.once(signal, () => void app.stop().then(() => process.exit(0)));
      }
    });
}
