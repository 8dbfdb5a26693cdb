import { Router, type Request, type Response } from "express";
import { parseCheckId, parseJobId } from "../../../core/parameters.js";
import type { Catalog } from "../../../services/catalog.js";
import type { JobStream } from "../../../services/job-stream.js";
import { jobEvents } from "../farm.js";
import type { ViewContext } from "../../ui/layout.js";
import { checkPage } from "../../ui/views/check.js";
import { agentsPage, nodesPage } from "../../ui/views/farm.js";
import { homePage } from "../../ui/views/home.js";
import { jobPage } from "../../ui/views/job.js";
import { projectPage } from "../../ui/views/project.js";
import { releasePage } from "../../ui/views/release.js";

/** The web UI's pages: each asks the catalog (which checks read access) and renders its view. */
export function uiPageRoutes(catalog: Catalog, jobStream: JobStream, publicUrl: string | undefined): Router {
  // Strict: /ui and /ui/ are different routes (the first sends to the second).
  const router = Router({ strict: true });
  const send = (response: Response, page: string) => response.type("html").set("Cache-Control", "no-store").send(page);
  const context = (request: Request, response: Response) => viewContext(request, response, publicUrl);

  router.get("/ui", (_request, response) => response.redirect(301, "/ui/"));
  router.get("/ui/", (request, response) => {
    const query = typeof request.query.q === "string" ? request.query.q.slice(0, 200) : "";
    send(response, homePage(context(request, response), catalog.home(response.locals.principal, query)));
  });
  router.get("/ui/projects/:project", (request, response) => {
    send(response, projectPage(context(request, response), catalog.project(response.locals.principal, request.params.project)));
  });
  router.get("/ui/projects/:project/releases/:version", (request, response) => {
    send(response, releasePage(context(request, response), catalog.release(response.locals.principal, request.params.project, request.params.version)));
  });
  router.get("/ui/jobs/:id", (request, response) => {
    send(response, jobPage(context(request, response), catalog.job(response.locals.principal, parseJobId(request.params.id))));
  });
  // The job page's live log: the API's stream, read with the session's principal (the API never reads the cookie).
  router.get("/ui/jobs/:id/events", jobEvents(jobStream));
  router.get("/ui/checks/:id", (request, response) => {
    send(response, checkPage(context(request, response), catalog.check(response.locals.principal, parseCheckId(request.params.id))));
  });
  router.get("/ui/agents", (request, response) => {
    send(response, agentsPage(context(request, response), catalog.agentList(response.locals.principal)));
  });
  router.get("/ui/nodes", (request, response) => {
    send(response, nodesPage(context(request, response), catalog.nodeList(response.locals.principal)));
  });
  return router;
}

/** Who is looking, the session's form token, and the address install lines name. */
export function viewContext(request: Request, response: Response, publicUrl: string | undefined): ViewContext {
  return {
    viewer: response.locals.principal,
    csrfToken: response.locals.session?.csrfToken ?? null,
    baseUrl: (publicUrl ?? `${request.protocol}://${request.get("host")}`).replace(/\/+$/, ""),
  };
}
