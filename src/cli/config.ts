import type { Command } from "commander";
import { SETTING_KEYS } from "../settings.js";
import { settingsOf } from "./context.js";

export function registerConfig(program: Command): void {
  program
    .command("config")
    .description("print the effective settings and where each came from")
    .action((_options, command: Command) => {
      const { settings, sources } = settingsOf(command);
      for (const key of SETTING_KEYS) {
        const [section, name] = key.split(".");
        const value = (settings as unknown as Record<string, Record<string, unknown>>)[section][name];
        console.log(`${key} = ${value === undefined ? "(unset)" : JSON.stringify(value)}    # ${sources[key]}`);
      }
      for (const node of settings.nodes) console.log(`nodes = ${JSON.stringify(node)}    # ${sources.nodes ?? "file"}`);
    });
}
