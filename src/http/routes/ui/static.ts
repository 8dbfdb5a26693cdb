import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Router } from "express";

/** The UI's own assets, shipped as data beside the sources (as src/python is), read once. */
const FOLDER = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../../../src/http/ui/static");
const ASSETS: Record<string, string> = { "style.css": "text/css; charset=utf-8", "job.js": "text/javascript; charset=utf-8", "icon.svg": "image/svg+xml" };

/** The stylesheet (and scripts) every page links: served by the app, so the UI works offline. */
export function uiStaticRoutes(): Router {
  const router = Router();
  const contents = new Map(Object.keys(ASSETS).map((name) => [name, readFileSync(path.join(FOLDER, name))]));
  router.get("/ui/static/:asset", (request, response, next) => {
    const body = contents.get(request.params.asset);
    if (!body) return next();
    response.set("Cache-Control", "public, max-age=300").type(ASSETS[request.params.asset]).send(body);
  });
  return router;
}
