import type { IncomingMessage, ServerResponse } from "node:http";
import fresh from "fresh";
import type { NormalizedName } from "../core/types.js";
import type { Principal } from "../services/access.js";
import type { IndexView, Page, Pages } from "../services/pages.js";
import { negotiate } from "./negotiate.js";

/** The page a request asks for: negotiation, then the service (which checks access). Throws AppError. */
export function pageFor(pages: Pages, principal: Principal, view: IndexView, project: NormalizedName | undefined, accept: string | undefined): Page {
  const format = negotiate(accept);
  return project ? pages.project(principal, project, format, view) : pages.root(principal, format, view);
}

/**
 * The one sender of an index page, for the fast path and the Express route alike, so they cannot
 * drift: headers, conditional GET (weak validators, `*`, lists and `no-cache` as RFC 9110 has
 * them, through `fresh`, the library Express uses) and HEAD.
 */
export function sendPage(request: IncomingMessage, response: ServerResponse, page: Page): void {
  const headers = { "Content-Type": page.contentType, ETag: page.etag, Vary: "Accept, Authorization", "Cache-Control": page.private ? "private, no-cache" : "no-cache" };
  if (fresh(request.headers, { etag: page.etag })) {
    response.writeHead(304, headers);
    response.end();
    return;
  }
  response.writeHead(200, { ...headers, "Content-Length": page.body.length });
  response.end(request.method === "HEAD" ? undefined : page.body);
}
