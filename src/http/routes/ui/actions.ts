import { Router } from "express";
import { parseProjectName } from "../../../core/names.js";
import { parseVersion } from "../../../core/versions.js";
import type { Checks } from "../../../services/checks.js";
import type { Jobs } from "../../../services/jobs.js";
import type { Releases } from "../../../services/releases.js";
import type { Sessions } from "../../../services/sessions.js";
import type { Waivers } from "../../../services/waivers.js";
import { links } from "../../ui/links.js";
import { requireSessionForm } from "../../ui/session-cookie.js";

export interface UiActionServices {
  sessions: Sessions;
  releases: Releases;
  jobs: Jobs;
  checks: Checks;
  waivers: Waivers;
}

/**
 * What a signed-in user may do from a page: the same service calls as the API (which decide who
 * may), behind the session's CSRF check; each answers by going back to the page it changed.
 */
export function uiActionRoutes(services: UiActionServices): Router {
  const router = Router();
  const guard = requireSessionForm(services.sessions);
  router.post("/ui/projects/:project/releases/:version/yank", guard, (request, response) => {
    services.releases.yank(response.locals.principal, request.params.project, request.params.version, text(request.body.reason));
    response.redirect(303, links.project(parseProjectName(request.params.project)));
  });
  router.post("/ui/projects/:project/releases/:version/unyank", guard, (request, response) => {
    services.releases.unyank(response.locals.principal, request.params.project, request.params.version);
    response.redirect(303, links.project(parseProjectName(request.params.project)));
  });
  router.post("/ui/projects/:project/releases/:version/rebuild", guard, (request, response) => {
    const project = parseProjectName(request.params.project);
    const version = parseVersion(request.params.version);
    services.jobs.requeue(response.locals.principal, project, version);
    response.redirect(303, links.release(project, version));
  });
  router.post("/ui/projects/:project/releases/:version/waive", guard, (request, response) => {
    const { module, python } = request.body;
    services.waivers.add(response.locals.principal, {
      project: request.params.project,
      version: request.params.version,
      module: text(module) || undefined,
      python: text(python) || undefined,
      reason: text(request.body.reason),
    });
    response.redirect(303, links.release(parseProjectName(request.params.project), parseVersion(request.params.version)));
  });
  router.post("/ui/files/:filename/recheck", guard, (request, response) => {
    // Read first: a file a stranger may not read is unknown to them, whatever their role.
    const { file } = services.checks.checksOf(response.locals.principal, request.params.filename);
    services.checks.request(response.locals.principal, file.filename);
    response.redirect(303, links.release(file.project, file.version));
  });
  return router;
}

function text(value: unknown): string {
  return typeof value === "string" ? value.trim() : "";
}
