import express, { Router, type Request, type Response } from "express";
import type { Catalog } from "../../../services/catalog.js";
import type { JobStream } from "../../../services/job-stream.js";
import { uiErrorHandler } from "../../errors.js";
import { readSession } from "../../ui/session-cookie.js";
import { errorPage, signInPage } from "../../ui/views/sign-in.js";
import { uiActionRoutes, type UiActionServices } from "./actions.js";
import { uiPageRoutes, viewContext } from "./pages.js";
import { SIGN_IN_PATH, uiSignInRoutes } from "./sign-in.js";
import { uiStaticRoutes } from "./static.js";

export interface UiDependencies extends UiActionServices {
  catalog: Catalog;
  jobStream: JobStream;
  publicUrl?: string;
  /** See settings: server.trusted_proxy. */
  trustedProxy?: string;
}

/**
 * Everything under /ui/: the session cookie is read here only, forms are small url-encoded
 * bodies, pages allow no script or style but the app's own, and errors come back as pages.
 */
export function uiRoutes(deps: UiDependencies): Router {
  const router = Router();
  router.use("/ui", readSession(deps.sessions), express.urlencoded({ extended: false, limit: "16kb", parameterLimit: 20 }), (_request, response, next) => {
    response.set("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'");
    response.set("X-Content-Type-Options", "nosniff");
    next();
  });
  router.use(uiStaticRoutes());
  router.use(uiSignInRoutes(deps.sessions, deps.publicUrl, deps.trustedProxy));
  router.use(uiPageRoutes(deps.catalog, deps.jobStream, deps.publicUrl));
  router.use(uiActionRoutes(deps));
  router.use("/ui", uiErrorHandler(SIGN_IN_PATH, (request, response, status, message) => render(request, response, deps.publicUrl, status, message)));
  return router;
}

function render(request: Request, response: Response, publicUrl: string | undefined, status: number, message: string): string {
  const context = viewContext(request, response, publicUrl);
  if (request.baseUrl + request.path === SIGN_IN_PATH) {
    const username = typeof request.body?.username === "string" ? request.body.username : "";
    const next = typeof request.body?.next === "string" ? request.body.next : "/ui/";
    return signInPage(context, { next, username, error: message });
  }
  return errorPage(context, status, message);
}
