import { execFileSync, spawn } from "node:child_process";
import { chmodSync, linkSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { freePort } from "../support/ports.js";
import { pollUntilOk, stopChild, track } from "./server.js";

export interface StaticPage {
  /** URL path: ending in `/` (`/simple/<project>/`, served as its index.html) or a file's own path. */
  urlPath: string;
  /** The bytes, or the path of a file to hard-link (a large download is not held in memory). */
  body: Buffer | { file: string };
}

export interface Nginx {
  url: string;
  /** The master's; its children are the workers. */
  pid: number;
  stop(): Promise<void>;
}

/**
 * Debian's nginx serving the given pages as static `index.html` files from a temporary prefix in `parent`:
 * generated minimal config, daemon off, worker_processes auto, access_log off, loopback only.
 */
export async function startNginx(binary: string, pages: StaticPage[], parent: string): Promise<Nginx> {
  const prefix = mkdtempSync(path.join(parent, "nginx-"));
  const root = path.join(prefix, "root");
  for (const page of pages) {
    const target = page.urlPath.endsWith("/") ? path.join(root, page.urlPath, "index.html") : path.join(root, page.urlPath);
    mkdirSync(path.dirname(target), { recursive: true });
    if (Buffer.isBuffer(page.body)) writeFileSync(target, page.body);
    else linkSync(page.body.file, target);
    chmodSync(target, 0o644);
  }
  // Workers run as nobody when the master is root: the files must be world-readable.
  for (const directory of [prefix, root]) chmodSync(directory, 0o755);
  const port = await freePort();
  const config = path.join(prefix, "nginx.conf");
  writeFileSync(config, configText(prefix, root, port));
  const child = track(spawn(binary, ["-p", prefix, "-c", config, "-e", path.join(prefix, "error.log")], { stdio: ["ignore", "inherit", "inherit"] }));
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    await stopChild(child);
    rmSync(prefix, { recursive: true, force: true });
  };
  try {
    await pollUntilOk(`${url}${pages[0].urlPath}`, 10_000);
  } catch (error) {
    await stop();
    throw error;
  }
  return { url, pid: child.pid!, stop };
}

const MAIN = fileURLToPath(new URL("../../dist/main.js", import.meta.url));

/**
 * Debian's nginx in front of a running pydepot, on the config `pydepot nginx-config --full` renders
 * for it (anonymous reads: pages and files from `storage`), passed through `edit` first, so one
 * run can compare a setting (tcp_nopush) with the shipped value. access_log off as for static.
 */
export async function startPydepotNginx(binary: string, storage: string, serverUrl: string, parent: string, edit: (config: string) => string = (config) => config): Promise<Nginx & { config: string }> {
  const prefix = mkdtempSync(path.join(parent, "nginx-pydepot-"));
  chmodSync(prefix, 0o755);
  const port = await freePort();
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith("PYDEPOT_")));
  const upstream = new URL(serverUrl);
  const rendered = execFileSync(process.execPath, [MAIN, "nginx-config", "--full", "--listen", `127.0.0.1:${port}`, "--prefix", prefix], {
    cwd: prefix,
    env: { ...env, PYDEPOT_STORAGE_PATH: storage, PYDEPOT_SERVER_HOST: upstream.hostname, PYDEPOT_SERVER_PORT: upstream.port, PYDEPOT_ACCESS_ANONYMOUS_READ: "true" },
    encoding: "utf8",
  });
  const config = edit(rendered);
  const file = path.join(prefix, "nginx.conf");
  writeFileSync(file, config);
  const child = track(spawn(binary, ["-p", prefix, "-c", file, "-e", path.join(prefix, "error.log"), "-g", "daemon off;"], { stdio: ["ignore", "inherit", "inherit"] }));
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    await stopChild(child);
    rmSync(prefix, { recursive: true, force: true });
  };
  try {
    await pollUntilOk(`${url}/simple/`, 10_000);
  } catch (error) {
    await stop();
    throw error;
  }
  return { url, pid: child.pid!, config, stop };
}

function configText(prefix: string, root: string, port: number): string {
  const temp = (name: string) => path.join(prefix, name);
  return `daemon off;
worker_processes auto;
pid ${temp("nginx.pid")};
error_log ${temp("error.log")} warn;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  default_type text/html;
  charset utf-8;
  client_body_temp_path ${temp("body")};
  proxy_temp_path ${temp("proxy")};
  fastcgi_temp_path ${temp("fastcgi")};
  uwsgi_temp_path ${temp("uwsgi")};
  scgi_temp_path ${temp("scgi")};
  server {
    listen 127.0.0.1:${port};
    root ${root};
    index index.html;
  }
}
`;
}
