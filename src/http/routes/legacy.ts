import { Router, type RequestHandler } from "express";
import multer from "multer";
import { badRequest, tooLarge } from "../../core/errors.js";
import type { Access } from "../../services/access.js";
import type { Blobs } from "../../store/blobs.js";
import type { Uploads } from "../../services/uploads.js";
import { stagedFiles, UploadEngine } from "../upload-engine.js";

/** Room for the text fields around the file in a multipart body. */
const FORM_OVERHEAD_BYTES = 16 * 1024 * 1024;

/** The legacy upload API as twine and `setup.py upload` speak it, at `/` and `/legacy/`. Never redirects. */
export function legacyRoutes(access: Access, uploads: Uploads, blobs: Blobs, maxBytes: number): Router {
  const router = Router();
  const multipart = multer({
    storage: new UploadEngine(blobs, maxBytes),
    // Keep `../x.tar.gz` as sent so the filename check refuses it (busboy would strip it to `x.tar.gz`).
    preservePath: true,
    limits: { files: 2, fields: 500, fieldSize: 4 * 1024 * 1024, parts: 502 },
  }).fields([
    { name: "content", maxCount: 1 },
    { name: "gpg_signature", maxCount: 1 },
  ]);
  const upload: RequestHandler = async (request, response) => {
    const parts = stagedFiles(request);
    try {
      await uploads.upload(response.locals.principal, request.body ?? {}, parts.find((part) => part.field === "content"));
    } finally {
      // Whatever happened, ingest has linked what it keeps; the staged copies go.
      for (const part of parts) blobs.discard(part.staged);
    }
    response.status(200).type("text/plain").send("OK\n");
  };
  // Who may upload at all is known from the headers: refuse before a byte of the body is stored.
  const requireUploader: RequestHandler = (_request, response, next) => {
    access.canUpload(response.locals.principal, undefined);
    next();
  };
  for (const path of ["/", "/legacy", "/legacy/"]) router.post(path, requireUploader, requireMultipart, refuseOversized(maxBytes), multipart, upload);
  return router;
}

/** Without this, multer skips other bodies and the form just looks empty. */
const requireMultipart: RequestHandler = (request, _response, next) => {
  if (!request.is("multipart/form-data")) throw badRequest("Malformed upload: the body must be multipart/form-data, as twine and setup.py send it");
  next();
};

/** Refuse a declared body that cannot fit before reading any of it. */
function refuseOversized(maxBytes: number): RequestHandler {
  return (request, _response, next) => {
    const declared = Number(request.get("content-length") ?? 0);
    if (declared > maxBytes + FORM_OVERHEAD_BYTES) throw tooLarge(`File too large: the limit is ${maxBytes} bytes`);
    next();
  };
}
