/**
 * An error a user can act on: the status to answer with and a one-line message.
 * Services and core throw these; http/errors.ts and main.ts present them.
 */
export class AppError extends Error {
  constructor(
    readonly status: number,
    message: string,
    /** For 429 and 503: when the client may try again. */
    readonly retryAfterSeconds?: number,
  ) {
    // One line, whatever a client put in the values it quotes (a metadata field can span lines).
    super(message.replace(/\r\n|\r|\n/g, "\\n"));
    this.name = "AppError";
  }
}

export const badRequest = (message: string) => new AppError(400, message);
export const unauthorized = (message: string) => new AppError(401, message);
export const forbidden = (message: string) => new AppError(403, message);
export const notFound = (message: string) => new AppError(404, message);
export const conflict = (message: string) => new AppError(409, message);
export const tooLarge = (message: string) => new AppError(413, message);
export const tooManyRequests = (message: string, retryAfterSeconds: number) => new AppError(429, message, retryAfterSeconds);
export const unavailable = (message: string, retryAfterSeconds: number) => new AppError(503, message, retryAfterSeconds);
export const insufficientStorage = (message: string) => new AppError(507, message);

/** nginx's code for a client that went away before its request was read: logged, never answered. */
export const CLIENT_CLOSED = 499;
export const clientClosed = () => new AppError(CLIENT_CLOSED, "Client closed the connection before the request was complete");
