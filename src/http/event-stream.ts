import type { Request, Response } from "express";
import type { JobFollower, JobStreamEvent } from "../services/job-stream.js";
import { clientGone } from "./client-gone.js";

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
  const signal = clientGone(response);
  try {
    response.writeHead(200, {
      "Content-Type": "text/event-stream; charset=utf-8",
      "Cache-Control": "no-store",
      // An nginx that buffers proxied answers (proxy_buffering is on by default) must not hold these back.
      "X-Accel-Buffering": "no",
    });
    response.flushHeaders();
    // HEAD gets the headers only: its body would be dropped, and the stream would never end.
    if (request.method === "HEAD") return;
    for (let events = await follower.next(signal); events; events = await follower.next(signal)) {
      if (!response.write(events.length > 0 ? events.map(encode).join("") : ": heartbeat\n\n")) await drained(response, signal);
    }
  } finally {
    follower.close();
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
