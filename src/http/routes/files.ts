import { Router } from "express";
import type { Downloads } from "../../services/downloads.js";

const YEAR_SECONDS = 365 * 24 * 3600;

/** Distribution files and their PEP 658 `.metadata`: immutable, so cached for a year. */
export function fileRoutes(downloads: Downloads): Router {
  const router = Router({ strict: true });
  router.get("/files/:project/:filename", (request, response, next) => {
    const download = downloads.locate(response.locals.principal, request.params.project, request.params.filename);
    response.sendFile(
      download.path,
      {
        etag: false,
        lastModified: false,
        headers: {
          ETag: download.etag,
          "Content-Type": "application/octet-stream",
          "Cache-Control": `public, max-age=${YEAR_SECONDS}, immutable`,
        },
      },
      (error) => error && next(error),
    );
  });
  return router;
}
