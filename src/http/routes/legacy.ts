import { Router, type RequestHandler } from "express";
import type { Access } from "../../services/access.js";
import type { Staging } from "../../services/staging.js";
import type { Uploads } from "../../services/uploads.js";
import { multipartForm, type FormPolicy } from "../upload-engine.js";

/** Room for part headers and boundaries around the file and the text fields. */
const FRAMING_BYTES = 1024 * 1024;

export interface UploadLimits {
  maxBytes: number;
  maxFields: number;
  maxFieldBytes: number;
}

/** The legacy upload API as twine and `setup.py upload` speak it, at `/` and `/legacy/`. Never redirects. */
export function legacyRoutes(access: Access, uploads: Uploads, staging: Staging, limits: UploadLimits): Router {
  const router = Router();
  const policy: FormPolicy = {
    fileFields: { content: 1, gpg_signature: 1 },
    maxFileBytes: limits.maxBytes,
    maxFields: limits.maxFields,
    maxFieldBytes: limits.maxFieldBytes,
    maxBodyBytes: limits.maxBytes + limits.maxFieldBytes + FRAMING_BYTES,
    preservePath: true,
  };
  const upload: RequestHandler = async (_request, response) => {
    const { fields, files } = response.locals.form;
    await uploads.upload(response.locals.principal, fields, files.find((file) => file.field === "content"));
    response.status(200).type("text/plain").send("OK\n");
  };
  // Who may upload at all is known from the headers: refuse before a byte of the body is stored.
  const requireUploader: RequestHandler = (_request, response, next) => {
    access.canUpload(response.locals.principal, undefined);
    next();
  };
  for (const path of ["/", "/legacy", "/legacy/"]) router.post(path, requireUploader, multipartForm(staging, policy), upload);
  return router;
}
