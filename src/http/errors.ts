import type { ErrorRequestHandler, Request, Response } from "express";
import { AppError, CLIENT_CLOSED } from "../core/errors.js";

/** How long, and how much, a refused body is still read so the client sees the answer before the close. */
const LINGER_MS = 5000;
const LINGER_BYTES = 64 * 1024 * 1024;

/**
 * The one place an error becomes an HTTP answer. The message goes in the reason phrase too,
 * because twine and `setup.py upload` print only that.
 */
export function errorHandler(log: (message: string) => void): ErrorRequestHandler {
  return (error, request, response, next) => {
    const { status, message } = describe(error);
    if (status === CLIENT_CLOSED) {
      log(`connection closed before the request was complete (client aborted or timed out): ${request.method} ${request.originalUrl}`);
      return;
    }
    if (isClientGone(error)) {
      log(answerCutShort(request.method, request.originalUrl));
      request.socket.destroy();
      return;
    }
    if (response.headersSent) return next(error);
    if (status === 507) log(`out of disk space: ${request.method} ${request.originalUrl}: ${(error as Error)?.message}`);
    else if (status >= 500) log(`internal error: ${(error as Error)?.stack ?? String(error)}`);
    if (!request.complete) closeAfterAnswer(request, response);
    response.status(status);
    response.statusMessage = reasonPhrase(message);
    if (status === 401) response.set("WWW-Authenticate", 'Basic realm="pydepot"');
    if (error instanceof AppError && error.retryAfterSeconds !== undefined) response.set("Retry-After", String(error.retryAfterSeconds));
    response.type("text/plain").send(`${message}\n`);
  };
}

/**
 * The web UI's answer to an `AppError`: a page instead of plain text (`render` draws it), the
 * message in the reason phrase as everywhere, and a visitor who must sign in first sent to the
 * sign-in form (`signInPath` itself shows the refusal on its form instead). Anything else goes on
 * to the one handler above.
 */
export function uiErrorHandler(signInPath: string, render: (request: Request, response: Response, status: number, message: string) => string): ErrorRequestHandler {
  return (error, request, response, next) => {
    if (!(error instanceof AppError) || response.headersSent) return next(error);
    if (error.status === 401 && request.baseUrl + request.path !== signInPath) {
      const back = request.method === "GET" ? request.originalUrl : "/ui/";
      return response.redirect(303, `${signInPath}?next=${encodeURIComponent(back)}`);
    }
    response.status(error.status);
    response.statusMessage = reasonPhrase(error.message);
    if (error.retryAfterSeconds !== undefined) response.set("Retry-After", String(error.retryAfterSeconds));
    response.type("html").send(render(request, response, error.status, error.message));
  };
}

/** What the log says of a client that left before its answer was sent: not an error of ours. */
export function answerCutShort(method: string | undefined, url: string | undefined): string {
  return `connection closed before the answer was complete (client aborted): ${method} ${url}`;
}

/**
 * A refused request whose body is still coming: answer, read on briefly so the client (which
 * sends its whole body before it reads) gets to see the answer, then close instead of reading
 * gigabytes that would be discarded.
 */
function closeAfterAnswer(request: Request, response: Response): void {
  response.set("Connection", "close");
  let lingered = 0;
  const close = () => request.socket.destroy();
  const timer = setTimeout(close, LINGER_MS);
  request.on("data", (chunk: Buffer) => {
    lingered += chunk.length;
    if (lingered > LINGER_BYTES) close();
  });
  request.once("end", () => clearTimeout(timer));
  request.socket.once("close", () => clearTimeout(timer));
  request.resume();
}

/** A download or answer cut short by the client: what `send` and socket writes report then. */
function isClientGone(error: unknown): boolean {
  const code = (error as { code?: unknown })?.code;
  return code === "ECONNABORTED" || code === "ECONNRESET" || code === "EPIPE" || code === "ERR_STREAM_PREMATURE_CLOSE";
}

function describe(error: unknown): { status: number; message: string } {
  if (error instanceof AppError) return { status: error.status, message: error.message };
  const code = (error as { code?: unknown })?.code;
  if (code === "ENOSPC" || code === "EDQUOT" || code === "SQLITE_FULL") {
    return { status: 507, message: "Insufficient storage: the server is out of disk space; try again once an administrator has freed some" };
  }
  // body-parser's errors carry a client status, and for a body over the limit, the limit.
  const clientError = error as { status?: number; statusCode?: number; message?: string; limit?: number };
  const status = clientError?.status ?? clientError?.statusCode;
  if (status === 413 && typeof clientError.limit === "number") {
    return { status, message: `Request body too large: this route takes at most ${clientError.limit} bytes` };
  }
  if (typeof status === "number" && status >= 400 && status < 500) {
    return { status, message: `Bad request: ${clientError.message ?? "malformed request"}` };
  }
  return { status: 500, message: "Internal server error" };
}

/** A status line takes printable ASCII only. */
function reasonPhrase(message: string): string {
  return message.replace(/[^\x20-\x7e]/g, "?").slice(0, 512);
}
