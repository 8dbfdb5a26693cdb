import type { Request, RequestHandler, Response } from "express";
import { parse as parseCookies } from "cookie";
import { forbidden, unauthorized } from "../../core/errors.js";
import type { Session, Sessions } from "../../services/sessions.js";
import { FOREIGN_ORIGIN } from "../cross-site.js";

declare module "express-serve-static-core" {
  interface Locals {
    /** The web UI session the cookie names, when there is one. */
    session?: Session;
  }
}

const COOKIE = "pydepot_session";

/**
 * A signed-in browser is known by its session cookie, on /ui/ only (the API never reads it). A
 * request that brought credentials of its own (Basic, as pip sends) keeps the principal those
 * give for reading.
 */
export function readSession(sessions: Sessions): RequestHandler {
  return (request, response, next) => {
    const secret = sessionSecret(request);
    const session = secret ? sessions.session(secret) : null;
    if (session) {
      response.locals.session = session;
      if (response.locals.principal.kind === "anonymous") response.locals.principal = session.principal;
    }
    next();
  };
}

/**
 * Every form post of a signed-in page: it must come from this site (Origin) and carry the
 * session's own token, and it acts as the session's user, never as credentials a browser might
 * add by itself (a cached Basic login).
 */
export function requireSessionForm<Parameters = Record<string, string>>(sessions: Sessions): RequestHandler<Parameters> {
  return (request, response, next) => {
    requireOrigin(request);
    const session = response.locals.session;
    if (!session) throw unauthorized("Sign in to do this: your session ended or you never signed in");
    if (!sessions.csrfMatches(session, request.body?.csrf)) throw forbidden("This form is stale or came from another site: reload the page and try again");
    response.locals.principal = session.principal;
    next();
  };
}

/**
 * Browsers send Origin with every form post, and cross-site.ts has refused one from another site
 * (for every write, not only these); a signed-in form also needs one: an old browser or a
 * hand-made request sends none.
 */
export function requireOrigin(request: Pick<Request, "get">): void {
  if (request.get("origin") === undefined) throw forbidden(FOREIGN_ORIGIN);
}

export function setSessionCookie(response: Response, secret: string, expires: Date, secure: boolean): void {
  response.cookie(COOKIE, secret, { httpOnly: true, sameSite: "strict", secure, path: "/ui", expires });
}

export function clearSessionCookie(response: Response): void {
  response.clearCookie(COOKIE, { httpOnly: true, sameSite: "strict", path: "/ui" });
}

export function sessionSecret(request: Request): string | undefined {
  const header = request.headers.cookie;
  return header ? parseCookies(header)[COOKIE] : undefined;
}
