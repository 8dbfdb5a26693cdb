import express, { type RequestHandler } from "express";
import { MAX_AGENT_JSON_BYTES } from "../core/farm.js";

/**
 * The one JSON body policy: 64 KB for everyone (a yank reason, a waiver, a smoke check fit with
 * room to spare), 4 MB for an authenticated build agent only, whose log batches and target reports
 * need it. Mounted per router, after identify, never on all of /api: a global parser would give
 * every route one limit. Over the limit: 413 naming it (http/errors.ts).
 */
export function jsonBody(): RequestHandler {
  const everyone = express.json({ limit: "64kb" });
  const agents = express.json({ limit: MAX_AGENT_JSON_BYTES });
  return (request, response, next) => (response.locals.principal.kind === "agent" ? agents : everyone)(request, response, next);
}
