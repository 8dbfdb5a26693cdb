import { Router } from "express";
import { parseProjectName } from "../../core/names.js";
import type { IndexView, Pages } from "../../services/pages.js";
import { pageFor, sendPage } from "../page-sender.js";

const VIEWS: Record<string, IndexView> = { "/simple": "default", "/staging/simple": "staging" };

/**
 * PEP 503 / 691 pages, HTML or JSON by Accept: the default index at /simple/ and the staging index
 * (also lists eggs and wheels the checker has not verified yet) at /staging/simple/. Redirects are
 * relative, so they survive a proxy that mounts the service under a path.
 */
export function simpleRoutes(pages: Pages): Router {
  const router = Router({ strict: true });
  for (const [base, view] of Object.entries(VIEWS)) {
    router.get(base, (_request, response) => response.redirect(301, `${base.split("/").at(-1)}/`));
    router.get(`${base}/`, (request, response) => {
      sendPage(request, response, pageFor(pages, response.locals.principal, view, undefined, request.get("accept")));
    });
    // A name is checked before it goes into a Location: `%2Fevil.example` would make it `//evil.example/`.
    router.get(`${base}/:project`, (request, response) => {
      response.redirect(301, `${parseProjectName(request.params.project)}/`);
    });
    router.get(`${base}/:project/`, (request, response) => {
      const { project } = request.params;
      const normalized = parseProjectName(project);
      // easy_install asks for the name as typed; a redirect spares it a scan of the root page.
      if (project !== normalized) return response.redirect(301, `../${normalized}/`);
      sendPage(request, response, pageFor(pages, response.locals.principal, view, normalized, request.get("accept")));
    });
  }
  return router;
}
