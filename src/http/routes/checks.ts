import { Router } from "express";
import { badRequest } from "../../core/errors.js";
import type { Checks } from "../../services/checks.js";
import { jsonBody } from "../json-body.js";

/** The import checker's verdicts (one request away, also for failed files) and manual runs. */
export function checkRoutes(checks: Checks): Router {
  const router = Router();
  router.use("/api/checks", jsonBody());
  router.get("/api/files/:filename/checks", (request, response) => {
    const { file, matrix, checks: history } = checks.checksOf(response.locals.principal, request.params.filename);
    response.json({ filename: file.filename, verification: file.verification, degraded: file.degraded, held: file.holdReason !== "", holdReason: file.holdReason, provenance: file.provenance, matrix, checks: history });
  });
  router.get("/api/nodes", (_request, response) => {
    response.json({ nodes: checks.health(response.locals.principal) });
  });
  router.post("/api/checks", (request, response) => {
    const target: unknown = request.body?.target;
    if (typeof target !== "string" || target === "") throw badRequest("Send JSON {target: FILENAME or PROJECT}");
    response.json({ checks: checks.request(response.locals.principal, target) });
  });
  return router;
}
