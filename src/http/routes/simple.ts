import { Router, type Request, type Response } from "express";
import { normalize } from "../../core/names.js";
import type { Page, Pages } from "../../services/pages.js";
import { negotiate } from "../negotiate.js";

/** PEP 503 / 691 pages: /simple/ and /simple/<project>/, HTML or JSON by Accept. */
export function simpleRoutes(pages: Pages): Router {
  const router = Router({ strict: true });
  router.get("/simple", (_request, response) => response.redirect(301, "/simple/"));
  router.get("/simple/", (request, response) => {
    send(request, response, pages.root(response.locals.principal, negotiate(request.get("accept"))));
  });
  router.get("/simple/:project", (request, response) => {
    response.redirect(301, `/simple/${normalize(request.params.project)}/`);
  });
  router.get("/simple/:project/", (request, response) => {
    const { project } = request.params;
    const normalized = normalize(project);
    // easy_install asks for the name as typed; a redirect spares it a scan of the root page.
    if (project !== normalized) return response.redirect(301, `/simple/${normalized}/`);
    send(request, response, pages.project(response.locals.principal, normalized, negotiate(request.get("accept"))));
  });
  return router;
}

function send(request: Request, response: Response, page: Page): void {
  response.set({ "Content-Type": page.contentType, ETag: page.etag, Vary: "Accept, Authorization", "Cache-Control": "no-cache" });
  if (request.fresh) {
    response.status(304).end();
    return;
  }
  response.send(page.body);
}
