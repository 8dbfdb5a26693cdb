import { Router } from "express";
import type { Downloads } from "../../services/downloads.js";
import { sendFile } from "../file-sender.js";

/** Distribution files and their PEP 658 `.metadata`, through the same sender as the fast path. */
export function fileRoutes(downloads: Downloads, trustedProxy: string | undefined, log: (message: string) => void): Router {
  const router = Router({ strict: true });
  router.get("/files/:project/:filename", (request, response, next) => {
    const download = downloads.locate(response.locals.principal, request.params.project, request.params.filename);
    sendFile(request, response, download, trustedProxy, next, log);
  });
  return router;
}
