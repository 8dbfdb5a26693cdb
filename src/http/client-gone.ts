import type { Response } from "express";

/**
 * A signal that aborts when the client's connection closes: work done for a waiting client (a
 * long poll, an event stream) stops there instead of finishing for no one. It aborts also once
 * the answer is sent, when nothing is waiting on it any more.
 */
export function clientGone(response: Response): AbortSignal {
  const abort = new AbortController();
  response.once("close", () => abort.abort());
  // A client that left while the request was being identified: its 'close' came before the listener.
  if (!response.socket || response.socket.destroyed) abort.abort();
  return abort.signal;
}
