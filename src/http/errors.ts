import type { ErrorRequestHandler } from "express";
import multer from "multer";
import { AppError } from "../core/errors.js";

/**
 * The one place an error becomes an HTTP answer. The message goes in the reason phrase too,
 * because twine and `setup.py upload` print only that.
 */
export function errorHandler(log: (message: string) => void): ErrorRequestHandler {
  return (error, request, response, next) => {
    if (response.headersSent) return next(error);
    // Read the rest of a refused body, so the client gets to read the answer instead of a reset.
    if (!request.complete) request.resume();
    const { status, message } = describe(error);
    if (status >= 500) log(`internal error: ${(error as Error)?.stack ?? String(error)}`);
    response.status(status);
    response.statusMessage = reasonPhrase(message);
    if (status === 401) response.set("WWW-Authenticate", 'Basic realm="pydepot"');
    response.type("text/plain").send(`${message}\n`);
  };
}

function describe(error: unknown): { status: number; message: string } {
  if (error instanceof AppError) return { status: error.status, message: error.message };
  if (error instanceof multer.MulterError) {
    return error.code === "LIMIT_FILE_SIZE"
      ? { status: 413, message: "File too large" }
      : { status: 400, message: `Malformed upload: ${error.message}${error.field ? ` (${error.field})` : ""}` };
  }
  const clientError = error as { status?: number; statusCode?: number; message?: string };
  const status = clientError?.status ?? clientError?.statusCode;
  if (typeof status === "number" && status >= 400 && status < 500) {
    return { status, message: `Bad request: ${clientError.message ?? "malformed request"}` };
  }
  if (error instanceof Error && /Unexpected end of form|Malformed part header|Multipart: Boundary not found/i.test(error.message)) {
    return { status: 400, message: `Malformed upload: ${error.message}` };
  }
  return { status: 500, message: "Internal server error" };
}

/** A status line takes printable ASCII only. */
function reasonPhrase(message: string): string {
  return message.replace(/[^\x20-\x7e]/g, "?").slice(0, 512);
}
