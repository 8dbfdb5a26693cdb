import type { RequestHandler } from "express";
import { unauthorized } from "../core/errors.js";
import { ANONYMOUS, type Principal } from "../services/access.js";
import type { Accounts } from "../services/accounts.js";

declare module "express-serve-static-core" {
  interface Locals {
    principal: Principal;
  }
}

/**
 * Basic credentials → principal (anonymous without them). Access rules are checked per route;
 * credentials that are present but wrong are refused here, so a mistyped token is never mistaken
 * for anonymous access.
 */
export function identify(accounts: Accounts): RequestHandler {
  return async (request, response, next) => {
    const header = request.headers.authorization;
    if (!header) {
      response.locals.principal = ANONYMOUS;
      return next();
    }
    const match = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
    const decoded = match ? Buffer.from(match[1], "base64").toString("utf8") : "";
    const colon = decoded.indexOf(":");
    if (colon < 0) throw unauthorized("Malformed Authorization header: use Basic auth with __token__ and an API token");
    response.locals.principal = await accounts.authenticate(decoded.slice(0, colon), decoded.slice(colon + 1));
    next();
  };
}
