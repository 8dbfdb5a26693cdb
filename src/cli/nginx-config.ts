import { readFileSync } from "node:fs";
import path from "node:path";
import type { Command } from "commander";
import { AppError } from "../core/errors.js";
import type { Settings } from "../settings.js";
import { settingsOf } from "./context.js";

/** The templates shipped in nginx/ (the same relative place from src/cli and dist/cli). */
const TEMPLATES = new URL("../../nginx/", import.meta.url);

const MiB = 1024 * 1024;
/**
 * nginx's body limit sits above pydepot's own (uploads.max_bytes plus 16 MiB for the form's text
 * fields, see http/routes/legacy.ts), so pydepot refuses first and its message reaches twine.
 */
const BODY_LIMIT_MARGIN_BYTES = 32 * MiB;
/** A lease request waits up to farm.long_poll_seconds; nginx must wait longer. */
const MIN_LEASE_TIMEOUT_SECONDS = 120;
const LEASE_TIMEOUT_MARGIN_SECONDS = 60;

export interface NginxOptions {
  /** nginx's `listen` value: `PORT`, `ADDR:PORT` or `[IPv6]:PORT`. */
  listen: string;
  /** nginx's `server_name` value: host names separated by spaces; `_` matches none in particular. */
  serverName: string;
}

export interface StandaloneOptions extends NginxOptions {
  /** Absolute folder for the pid file, the error log and nginx's temporary files. */
  prefix: string;
}

/** The `upstream` + `server` blocks for conf.d/: /files/ from disk when reads are anonymous, else proxied. */
export function renderNginxConfig(settings: Settings, options: NginxOptions): string {
  const variant = settings.access.anonymous_read ? "anonymous-read" : "authenticated-read";
  return fill(keepSection(template("pydepot.conf.template"), variant), {
    listen: checked(options.listen, LISTEN, "--listen", "PORT, ADDR:PORT or [IPv6]:PORT"),
    server_name: checked(options.serverName, SERVER_NAMES, "--server-name", "host names separated by spaces"),
    upstream: upstreamAddress(settings),
    storage: nginxPath(settings.storage.path, "storage.path"),
    max_body: String(settings.uploads.max_bytes + BODY_LIMIT_MARGIN_BYTES),
    lease_timeout: `${Math.max(MIN_LEASE_TIMEOUT_SECONDS, settings.farm.long_poll_seconds + LEASE_TIMEOUT_MARGIN_SECONDS)}s`,
  });
}

/** A complete nginx.conf holding the server block: `nginx -p PREFIX -c FILE -g 'daemon off;'`. */
export function renderStandaloneNginxConfig(settings: Settings, options: StandaloneOptions): string {
  const server = renderNginxConfig(settings, options).replace(/^(?=.)/gm, "    ");
  return fill(template("standalone.conf.template"), {
    // Workers of a master started by root would run as `nobody` and could not read the storage folder.
    user: process.getuid?.() === 0 ? "user root;  # started by root: workers read the storage folder as pydepot wrote it" : "",
    prefix: nginxPath(options.prefix, "--prefix"),
    server: server.trimEnd(),
  });
}

export function registerNginxConfig(program: Command): void {
  program
    .command("nginx-config")
    .description("print the nginx server block for these settings (nginx serves /files/ itself when reads are anonymous)")
    .option("--listen <address>", "where nginx listens: PORT, ADDR:PORT or [IPv6]:PORT", "80")
    .option("--server-name <names>", "nginx server_name: host names separated by spaces", "_")
    .option("--full", "print a complete nginx.conf instead, to run as: nginx -p PREFIX -c FILE -g 'daemon off;'")
    .option("--prefix <dir>", "with --full: folder for nginx's pid file, error log and temporary files", ".")
    .action((options: { listen: string; serverName: string; full?: boolean; prefix: string }, command: Command) => {
      const { settings } = settingsOf(command);
      const text = options.full
        ? renderStandaloneNginxConfig(settings, { ...options, prefix: path.resolve(options.prefix) })
        : renderNginxConfig(settings, options);
      process.stdout.write(text);
    });
}

// ---- rendering -----------------------------------------------------------------------------

const LISTEN = /^(?:(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):)?\d{1,5}$/;
const SERVER_NAMES = /^[A-Za-z0-9*._-]+(?: [A-Za-z0-9*._-]+)*$/;
const HOST = /^(?:[A-Za-z0-9.-]+|[0-9A-Fa-f:.]+)$/;

function template(name: string): string {
  return readFileSync(new URL(name, TEMPLATES), "utf8");
}

/** Keep the lines between `# BEGIN <wanted>` and `# END <wanted>`; drop every other marked section. */
function keepSection(text: string, wanted: string): string {
  return text.replace(/^[ \t]*# BEGIN ([\w-]+)\n([\s\S]*?)^[ \t]*# END \1\n(?:[ \t]*\n)?/gm, (_whole, name: string, body: string) =>
    name === wanted ? body : "",
  );
}

function fill(text: string, values: Record<string, string>): string {
  const filled = text.replace(/\{\{(\w+)\}\}/g, (placeholder, key: string) => {
    if (!(key in values)) throw new Error(`nginx template placeholder ${placeholder} has no value`);
    return values[key];
  });
  return filled.replace(/\n{3,}/g, "\n\n");
}

function checked(value: string, pattern: RegExp, name: string, expected: string): string {
  const trimmed = value.trim();
  if (!pattern.test(trimmed)) throw new AppError(2, `${name} ${JSON.stringify(value)} is not valid: expected ${expected}`);
  return trimmed;
}

/** Where nginx reaches pydepot: a wildcard bind address becomes the loopback address. */
function upstreamAddress(settings: Settings): string {
  const { host, port } = settings.server;
  if (port === 0) throw new AppError(2, "server.port is 0 (any free port): set the port pydepot serves on, nginx must know it");
  if (!HOST.test(host)) throw new AppError(2, `server.host ${JSON.stringify(host)} cannot be written into an nginx config`);
  const reachable = host === "0.0.0.0" ? "127.0.0.1" : host === "::" ? "::1" : host;
  return reachable.includes(":") ? `[${reachable}]:${port}` : `${reachable}:${port}`;
}

/** An absolute path nginx reads literally inside double quotes (no `$variables`, no escapes). */
function nginxPath(value: string, name: string): string {
  if (!path.isAbsolute(value)) throw new AppError(2, `${name} must be an absolute path for nginx: ${value}`);
  // eslint-disable-next-line no-control-regex
  if (/["\\$\x00-\x1f\x7f]/.test(value)) throw new AppError(2, `${name} ${JSON.stringify(value)} holds a character nginx would not read literally (", \\, $ or a control character)`);
  return value.replace(/\/+$/, "") || "/";
}
