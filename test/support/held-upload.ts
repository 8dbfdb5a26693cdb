// An upload that is under way: the request is open and half of its body sent, so the server is
// staging it, until the test sends the rest. For what must hold while uploads run.
import { request } from "node:http";
import type { Artifact } from "./artifacts.js";
import { twineFields } from "../http/requests.js";

/** An upload as twine sends it, stopped half-way through the body until finish() sends the rest. */
export async function heldUpload(url: string, artifact: Artifact, auth: string): Promise<{ finish(): Promise<number> }> {
  const form = new FormData();
  for (const [name, value] of twineFields(artifact)) form.append(name, value);
  form.append("content", new Blob([new Uint8Array(artifact.bytes)]), artifact.filename);
  const encoded = new Response(form);
  const contentType = encoded.headers.get("content-type")!;
  const body = Buffer.from(await encoded.arrayBuffer());
  let settle: (status: number) => void = () => {};
  let fail: (error: Error) => void = () => {};
  const answer = new Promise<number>((resolve, reject) => {
    settle = resolve;
    fail = reject;
  });
  const outgoing = request(url, { method: "POST", headers: { "Content-Type": contentType, "Content-Length": body.length, Authorization: auth } }, (response) => {
    response.resume();
    settle(response.statusCode ?? 0);
  });
  outgoing.on("error", fail);
  outgoing.write(body.subarray(0, body.length >> 1));
  return {
    finish() {
      outgoing.end(body.subarray(body.length >> 1));
      return answer;
    },
  };
}
