import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { startApp, type App } from "../../src/app.js";
import { loadSettings, type SettingsInput } from "../../src/settings.js";

export interface TestServer extends App {
  storage: string;
  /** `<url>/simple/` */
  index: string;
  /** `<url>/legacy/` */
  uploadUrl: string;
  /** Create a user (site admin when asked) and return an API token for it. */
  userToken(name: string, options?: { admin?: boolean }): Promise<string>;
}

export interface TestServerOptions {
  /** Receives the server's log lines (default: dropped). */
  log?: (line: string) => void;
  /** A storage folder the caller owns (a small filesystem, say); default: a temporary folder removed at stop(). */
  storage?: string;
}

/** The real app on 127.0.0.1 and a free port, with its own temporary storage folder. */
export async function startTestServer(overrides: SettingsInput["overrides"] = {}, options: TestServerOptions = {}): Promise<TestServer> {
  const storage = options.storage ?? mkdtempSync(path.join(os.tmpdir(), "pydepot-test-"));
  const { settings } = loadSettings({
    env: {},
    overrides: { ...overrides, server: { port: 0, ...overrides.server }, storage: { ...overrides.storage, path: storage } },
  });
  const app = await startApp(settings, options.log ?? (() => {}));
  return {
    ...app,
    storage,
    index: `${app.url}/simple/`,
    uploadUrl: `${app.url}/legacy/`,
    async userToken(name, options = {}) {
      await app.services.accounts.createUser(name, null, Boolean(options.admin), "test");
      return app.services.accounts.createToken(name, "test", "test").token;
    },
    async stop() {
      await app.stop();
      if (!options.storage) rmSync(storage, { recursive: true, force: true });
    },
  };
}

export function basicAuth(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`).toString("base64")}`;
}
