import type { Command } from "commander";
import { startApp } from "../app.js";
import { AppError } from "../core/errors.js";
import type { Settings } from "../settings.js";
import { settingsOf } from "./context.js";

export function registerServe(program: Command): void {
  program
    .command("serve")
    .description("serve the index, uploads and the API")
    .action(async (_options, command: Command) => {
      const { settings, sources } = settingsOf(command);
      const app = await startApp(settings).catch((error: NodeJS.ErrnoException) => {
        throw listenError(error, settings, sources);
      });
      console.log(`pydepot serving ${app.url}/simple/ (storage ${settings.storage.path})`);
      for (const signal of ["SIGINT", "SIGTERM"] as const) {
        process.once(signal, () => void app.stop().then(() => process.exit(0)));
      }
    });
}

/** A port that is taken or not ours to use, said with where the setting came from and how to change it. */
function listenError(error: NodeJS.ErrnoException, settings: Settings, sources: Record<string, string>): Error {
  const { host, port } = settings.server;
  const change = `choose another with PYDEPOT_SERVER_PORT or server.port in the config file (--config FILE); ${port} is from ${sources["server.port"]}`;
  if (error.code === "EADDRINUSE") return new AppError(1, `Port ${port} on ${host} is already in use (another pydepot?): stop that program or ${change}`);
  if (error.code === "EACCES") return new AppError(1, `No permission to listen on port ${port} of ${host} (ports below 1024 need root): ${change}`);
  if (error.code === "EADDRNOTAVAIL" || error.code === "ENOTFOUND") {
    return new AppError(1, `Cannot listen on ${host}: no such address on this machine; set PYDEPOT_SERVER_HOST or server.host in the config file (it is from ${sources["server.host"]})`);
  }
  return error;
}
