import type { Request, Response } from "express";
import type { JobFollower, JobStreamEvent } from "../services/job-stream.js";

/**
 * A follower sent as server-sent events (text/event-stream): `log` events carry the line's id as
 * the event id, so a browser's EventSource resumes after the last line it saw (Last-Event-ID);
 * `status` events carry none, so they leave that place alone. A comment line goes out whenever
 * the follower is quiet, so proxies and the server's own idle timeout keep the connection.
 * The follower is pulled only once the previous write has drained: a slow client costs one page
 * of lines in memory, not the whole log. Ends when the follower does or the client leaves, and
 * then gives the follower's place back; it holds no timer of its own.
 */
export async function sendEventStream(request: Request, response: Response, follower: JobFollower): Promise<void> {
  const abort = new AbortController();
  const leave = () => abort.abort();
  response.once("close", leave);
  // A client that left while the request was being identified: its 'close' came before the listener.
  if (!response.socket || response.socket.destroyed) leave();
  try {
    response.writeHead(200, {
      "Content-Type": "text/event-stream; charset=utf-8",
      "Cache-Control": "no-store",
      // nginx buffers proxied answers by default, which would hold the lines back.
      "X-Accel-Buffering": "no",
    });
    response.flushHeaders();
    // HEAD gets the headers only: its body would be dropped, and the stream would never end.
    if (request.method === "HEAD") return;
    for (let events = await follower.next(abort.signal); events; events = await follower.next(abort.signal)) {
      if (!response.write(events.length > 0 ? events.map(encode).join("") : ": heartbeat\n\n")) await drained(response, abort.signal);
    }
  } finally {
    follower.close();
    response.off("close", leave);
    response.end();
  }
}

function encode(event: JobStreamEvent): string {
  if (event.type === "log") return `id: ${event.line.id}\nevent: log\ndata: ${JSON.stringify(event.line)}\n\n`;
  return `event: status\ndata: ${JSON.stringify(event.state)}\n\n`;
}

function drained(response: Response, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      response.off("drain", done);
      signal.removeEventListener("abort", done);
      resolve();
    };
    response.once("drain", done);
    signal.addEventListener("abort", done, { once: true });
  });
}
