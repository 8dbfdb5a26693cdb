import type { IncomingMessage } from "node:http";
import type { RequestHandler } from "express";
import { unauthorized } from "../core/errors.js";
import { ANONYMOUS, type Principal } from "../services/access.js";
import { TOKEN_USERNAME, type Accounts } from "../services/accounts.js";
import { isAgentToken, type Agents } from "../services/agents.js";
import { isCheckToken, type Checks } from "../services/checks.js";
import { isBuildToken, type Jobs } from "../services/jobs.js";

declare module "express-serve-static-core" {
  interface Locals {
    principal: Principal;
    /** Who is asking, by address (see clientAddress): what per-client limits count by. */
    clientAddress: string;
  }
}

/** Build agents say which version they run on every request, so an incompatible one hears why. */
export const AGENT_VERSION_HEADER = "X-Pydepot-Agent-Version";

/**
 * Credentials → principal (anonymous without them): Basic as pip and twine send it, or Bearer as
 * agents do. Access rules are checked per route; credentials that are present but wrong are
 * refused here, so a mistyped token is never mistaken for anonymous access.
 */
export function identify(accounts: Accounts, agents: Agents, jobs: Jobs, checks: Checks, trustedProxy?: string): RequestHandler {
  return async (request, response, next) => {
    const header = request.headers.authorization;
    const address = clientAddress(request.socket.remoteAddress, request.headers["x-real-ip"], trustedProxy);
    response.locals.clientAddress = address;
    response.locals.principal = header ? await principalOf(header, request.get(AGENT_VERSION_HEADER), address, accounts, agents, jobs, checks) : ANONYMOUS;
    next();
  };
}

/**
 * Who is asking, for the login throttle and the bound on live job streams: behind nginx every request comes from nginx, which passes
 * the client's address in X-Real-IP (the rendered config sets it). Believed only from the
 * configured proxy's own address: anyone else could claim any address to dodge the throttle.
 */
export function clientAddress(peer: string | undefined, realIp: string | string[] | undefined, trustedProxy: string | undefined): string {
  const socket = peer?.replace(/^::ffff:/, "") ?? "unknown";
  if (!fromTrustedProxy(peer, trustedProxy) || typeof realIp !== "string" || realIp.trim() === "") return socket;
  return realIp.trim();
}

/** Whether the peer is the configured proxy (server.trusted_proxy): only its own headers (X-Real-IP, X-Forwarded-Proto and -Host, the X-Accel-Redirect prefix) are believed. */
export function fromTrustedProxy(peer: string | undefined, trustedProxy: string | undefined): boolean {
  return trustedProxy !== undefined && peer !== undefined && peer.replace(/^::ffff:/, "") === trustedProxy.replace(/^::ffff:/, "");
}

/**
 * The scheme and host the client used: behind nginx, TLS ends there and the client's scheme and
 * host arrive as X-Forwarded-Proto and X-Forwarded-Host (the rendered config sets both). Believed
 * only from the configured proxy, like X-Real-IP: anyone else could claim to have come over HTTPS.
 * Undefined for a Host that names no host.
 */
export function requestOrigin(request: IncomingMessage, trustedProxy: string | undefined): string | undefined {
  const proxied = fromTrustedProxy(request.socket.remoteAddress, trustedProxy);
  const forwarded = (name: string) => {
    const value = proxied ? request.headers[name] : undefined;
    return typeof value === "string" ? value.split(",")[0].trim().toLowerCase() : "";
  };
  const encrypted = (request.socket as { encrypted?: boolean }).encrypted === true;
  const proto = forwarded("x-forwarded-proto");
  const scheme = proto === "https" || proto === "http" ? proto : encrypted ? "https" : "http";
  const host = forwarded("x-forwarded-host") || request.headers.host || "";
  try {
    return host === "" ? undefined : new URL(`${scheme}://${host}`).origin;
  } catch {
    return undefined;
  }
}

async function principalOf(
  header: string,
  agentVersion: string | undefined,
  address: string,
  accounts: Accounts,
  agents: Agents,
  jobs: Jobs,
  checks: Checks,
): Promise<Principal> {
  const bearer = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (bearer) {
    if (isBuildToken(bearer[1])) return jobs.authenticateBuild(bearer[1]);
    if (isAgentToken(bearer[1])) return agents.authenticate(bearer[1], agentVersion);
    // A user's API token here was told to re-register an agent: say what the user can do instead.
    throw unauthorized("Bearer is for build agents' tokens: send an API token as Basic auth with the username __token__");
  }
  const basic = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
  const decoded = basic ? credentialText(Buffer.from(basic[1], "base64")) : "";
  const colon = decoded.indexOf(":");
  if (colon < 0) throw unauthorized("Malformed Authorization header: use Basic auth with __token__ and an API token");
  const username = decoded.slice(0, colon);
  const secret = decoded.slice(colon + 1);
  // pip and setuptools in a build or a check reach the staging index with the job's or the check's
  // credential, under the token username: a user's password that happens to start like a credential
  // stays a password.
  if (username === TOKEN_USERNAME && isBuildToken(secret)) return jobs.authenticateBuild(secret);
  if (username === TOKEN_USERNAME && isCheckToken(secret)) return checks.authenticateCheck(secret);
  if (username === TOKEN_USERNAME && isAgentToken(secret)) return agents.authenticate(secret, agentVersion);
  return accounts.authenticate(username, secret, address);
}

const UTF8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/**
 * Basic credentials as text: UTF-8 as curl and browsers send them, else ISO-8859-1, which Python's
 * requests (pip, twine) uses for them. Read as UTF-8 only, a right password with an `ä` from pip
 * became `p?sswort` and was refused.
 */
function credentialText(bytes: Buffer): string {
  try {
    return UTF8.decode(bytes);
  } catch {
    return bytes.toString("latin1");
  }
}
