// A pass-through HTTP proxy in front of a test server that writes down every request a real
// client made and what the server answered, so a test can tell which form of the index
// (HTML or JSON) a client was given and which URLs it fetched (e.g. PEP 658 `.metadata`).
// Bytes flow through unchanged; only the optional `forceAccept` rewrites a request header.
import http from "node:http";
import type { AddressInfo } from "node:net";

export interface LoggedRequest {
  readonly method: string;
  /** Path and query as the client sent them, e.g. `/simple/Demo_Pkg/`. */
  readonly path: string;
  /** The client's Accept header; undefined when it sent none (easy_install). */
  readonly accept: string | undefined;
  readonly userAgent: string;
  readonly status: number;
  /** The server's Content-Type, or undefined (redirects, 304). */
  readonly contentType: string | undefined;
}

export interface RequestLogOptions {
  /** Replaces the Accept header of requests for index pages (`/simple/...`). */
  readonly forceAccept?: string;
}

export interface RequestLog {
  /** `<proxy url>/simple/`: give this to the client instead of the server's own index URL. */
  readonly index: string;
  readonly requests: readonly LoggedRequest[];
  /** The requests whose User-Agent contains `agent` (e.g. "pip/23.2.1", "setuptools/"). */
  from(agent: string): LoggedRequest[];
  stop(): Promise<void>;
}

/** Listens on 127.0.0.1 and a free port and forwards every request to `targetUrl`. */
export async function startRequestLog(targetUrl: string, options: RequestLogOptions = {}): Promise<RequestLog> {
  const target = new URL(targetUrl);
  const requests: LoggedRequest[] = [];
  const server = http.createServer((incoming, outgoing) => {
    const headers = { ...incoming.headers, host: target.host };
    if (options.forceAccept !== undefined && incoming.url?.startsWith("/simple/")) headers.accept = options.forceAccept;
    const forwarded = http.request(
      { host: target.hostname, port: target.port, method: incoming.method, path: incoming.url, headers },
      (answer) => {
        requests.push({
          method: incoming.method ?? "",
          path: incoming.url ?? "",
          accept: incoming.headers.accept,
          userAgent: incoming.headers["user-agent"] ?? "",
          status: answer.statusCode ?? 0,
          contentType: answer.headers["content-type"],
        });
        outgoing.writeHead(answer.statusCode ?? 502, answer.statusMessage, answer.headers);
        answer.pipe(outgoing);
      },
    );
    forwarded.on("error", (error) => {
      outgoing.writeHead(502, "Bad Gateway", { "content-type": "text/plain" });
      outgoing.end(`request log: ${error.message}\n`);
    });
    incoming.pipe(forwarded);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    index: `http://127.0.0.1:${port}/simple/`,
    requests,
    from: (agent) => requests.filter((request) => request.userAgent.includes(agent)),
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
