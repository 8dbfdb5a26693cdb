// Requests a well-behaved client never makes: bodies sent chunked (no Content-Length), bodies that
// go on for ever, uploads that stop halfway, headers dripped a byte at a time.
import http from "node:http";
import net from "node:net";
import { once } from "node:events";

export interface StreamedReply {
  status: number;
  statusText: string;
  body: string;
  /** Body bytes the client managed to send before the answer came and the connection ended. */
  bytesSent: number;
  /** True when the server ended the connection before the client finished sending. */
  cutOff: boolean;
}

/**
 * Send `total` bytes of body made by `chunk(index)` in chunked framing, and keep sending until the
 * answer has come and the server has closed the connection (or everything is sent).
 */
export function streamRequest(url: string, options: { headers: Record<string, string>; total: number; chunk: (index: number) => Buffer }): Promise<StreamedReply> {
  return new Promise((resolve, reject) => {
    let bytesSent = 0;
    let finished = false;
    let answer: Omit<StreamedReply, "bytesSent" | "cutOff"> | undefined;
    const request = http.request(url, { method: "POST", headers: options.headers, agent: false }, (response) => {
      const chunks: Buffer[] = [];
      response.on("data", (chunk: Buffer) => chunks.push(chunk));
      response.on("end", () => {
        answer = { status: response.statusCode!, statusText: response.statusMessage ?? "", body: Buffer.concat(chunks).toString("utf8") };
      });
      response.on("error", () => {});
    });
    const settle = () => {
      if (!answer) return reject(new Error(`no answer; connection closed after ${bytesSent} bytes`));
      resolve({ ...answer, bytesSent, cutOff: !finished });
    };
    request.on("error", () => {});
    request.on("close", () => setImmediate(settle));
    void (async () => {
      for (let index = 0; bytesSent < options.total; index++) {
        if (request.destroyed || request.socket?.destroyed) return;
        const chunk = options.chunk(index);
        bytesSent += chunk.length;
        if (!request.write(chunk)) await Promise.race([once(request, "drain"), once(request, "close")]);
      }
      finished = true;
      request.end();
    })().catch(() => {
      // The server closed the connection mid-body (EPIPE): the answer, if any, is what counts.
    });
  });
}

/** Open a connection, send `prefix`, then nothing more: resolves when the server closes it. */
export async function stallAfter(url: string, prefix: string | Buffer): Promise<void> {
  const { hostname, port } = new URL(url);
  const socket = net.connect(Number(port), hostname);
  socket.on("error", () => {});
  socket.resume();
  await once(socket, "connect");
  socket.write(prefix);
  await once(socket, "close");
}

/** Send `text` on a connected socket one byte every `intervalMs`: stops when the server closes it. */
export async function drip(socket: net.Socket, text: string, intervalMs: number): Promise<{ sentAll: boolean }> {
  socket.resume();
  const closed = once(socket, "close").then(() => true);
  for (const character of text) {
    if (socket.destroyed) return { sentAll: false };
    socket.write(character);
    const stop = await Promise.race([closed, new Promise<false>((resolve) => setTimeout(() => resolve(false), intervalMs))]);
    if (stop) return { sentAll: false };
  }
  socket.destroy();
  return { sentAll: true };
}
