import { Router } from "express";
import { badRequest } from "../../core/errors.js";
import type { Releases } from "../../services/releases.js";
import { jsonBody } from "../json-body.js";

/** JSON API for project admins: yank, unyank, delete. */
export function adminRoutes(releases: Releases): Router {
  const router = Router();
  // Only this router's routes: a parser on all of /api would cap the farm API's bodies too.
  router.use("/api/projects", jsonBody());
  router.post("/api/projects/:project/releases/:version/yank", (request, response) => {
    const reason: unknown = request.body?.reason ?? "";
    if (typeof reason !== "string") throw badRequest("reason must be a string");
    releases.yank(response.locals.principal, request.params.project, request.params.version, reason);
    response.json({ project: request.params.project, version: request.params.version, yanked: true, reason });
  });
  router.post("/api/projects/:project/releases/:version/unyank", (request, response) => {
    releases.unyank(response.locals.principal, request.params.project, request.params.version);
    response.json({ project: request.params.project, version: request.params.version, yanked: false });
  });
  router.delete("/api/projects/:project/files/:filename", (request, response) => {
    releases.deleteFile(response.locals.principal, request.params.project, request.params.filename);
    response.json({ project: request.params.project, filename: request.params.filename, deleted: true });
  });
  return router;
}
