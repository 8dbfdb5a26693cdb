import type { Command } from "commander";
import { buildServices, type Services } from "../app.js";
import type { Principal } from "../services/access.js";
import { loadSettings, type LoadedSettings } from "../settings.js";

/** The operator at the terminal acts with site-admin rights, recorded under this name. */
export const OPERATOR_NAME = `cli:${process.env.USER ?? "operator"}`;
export const OPERATOR: Principal = { kind: "system", name: OPERATOR_NAME };

export function settingsOf(command: Command): LoadedSettings {
  return loadSettings({ configPath: command.optsWithGlobals().config });
}

/** Run a command body against the services, closing the database afterwards. */
export async function withServices<T>(command: Command, body: (services: Services) => T | Promise<T>): Promise<T> {
  const services = buildServices(settingsOf(command).settings);
  try {
    return await body(services);
  } finally {
    services.close();
  }
}

export async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8").replace(/\r?\n$/, "");
}
