import { Router } from "express";
import { badRequest } from "../../core/errors.js";
import { parseWaiverId } from "../../core/parameters.js";
import type { SmokeChecks } from "../../services/smoke-checks.js";
import type { WaiverRequest, Waivers } from "../../services/waivers.js";
import { jsonBody } from "../json-body.js";

const WAIVER_FIELDS = ["version", "module", "python", "degraded", "reason"];

/** The admin's word on the gate over HTTP: a project's waivers and its smoke check (readers see them, admins change them). */
export function gateRoutes(waivers: Waivers, smokeChecks: SmokeChecks): Router {
  const router = Router();
  // Only these routes: a parser on all of /api would cap the farm API's bodies too.
  router.use(["/api/projects/:project/waivers", "/api/projects/:project/smoke-check"], jsonBody());
  router.get("/api/projects/:project/waivers", (request, response) => {
    response.json({ project: request.params.project, waivers: waivers.list(response.locals.principal, request.params.project) });
  });
  router.post("/api/projects/:project/waivers", (request, response) => {
    const waiver = waivers.add(response.locals.principal, waiverRequest(request.params.project, request.body));
    response.json({ waiver });
  });
  router.post("/api/projects/:project/waivers/:id/revoke", (request, response) => {
    const waiver = waivers.revoke(response.locals.principal, parseWaiverId(request.params.id), request.params.project);
    response.json({ waiver });
  });
  router.get("/api/projects/:project/smoke-check", (request, response) => {
    response.json({ project: request.params.project, smokeCheck: smokeChecks.show(response.locals.principal, request.params.project) });
  });
  router.put("/api/projects/:project/smoke-check", (request, response) => {
    const code: unknown = request.body?.code;
    if (typeof code !== "string") throw badRequest('Send JSON {"code": "PYTHON"}: the smoke check to run after the imports');
    response.json({ smokeCheck: smokeChecks.set(response.locals.principal, request.params.project, code) });
  });
  router.delete("/api/projects/:project/smoke-check", (request, response) => {
    smokeChecks.clear(response.locals.principal, request.params.project);
    response.json({ project: request.params.project, smokeCheck: null });
  });
  return router;
}

/** The JSON body of a new waiver: known fields only (a misspelt one would widen the waiver silently), each of its type. */
function waiverRequest(project: string, body: unknown): WaiverRequest {
  if (typeof body !== "object" || body === null || Array.isArray(body)) throw badRequest('Send JSON {"reason": "..."} with optional version, module, python and degraded');
  const fields = body as Record<string, unknown>;
  const unknown = Object.keys(fields).find((key) => !WAIVER_FIELDS.includes(key));
  if (unknown !== undefined) throw badRequest(`Unknown field ${JSON.stringify(unknown)}: a waiver takes ${WAIVER_FIELDS.join(", ")}`);
  const text = (key: string) => {
    const value = fields[key];
    if (value !== undefined && typeof value !== "string") throw badRequest(`${key} must be a string`);
    return value as string | undefined;
  };
  if (fields.degraded !== undefined && typeof fields.degraded !== "boolean") throw badRequest("degraded must be true or false");
  // A missing reason is refused by the service, with the message an empty one gets.
  return { project, version: text("version"), module: text("module"), python: text("python"), degraded: fields.degraded as boolean | undefined, reason: text("reason") ?? "" };
}
