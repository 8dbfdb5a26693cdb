import type { RequestHandler } from "express";
import { forbidden } from "../core/errors.js";
import { requestOrigin } from "./identify.js";

/** Methods that change nothing here, so another site may send them. */
const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

export const FOREIGN_ORIGIN = "Form posted from another site (Origin does not match this server): open the page here and try again";

/**
 * A browser adds the session cookie (and a cached Basic login) to a form another site makes it
 * post: every write must come from a page of this site. Browsers say so in two headers: Origin,
 * sent with every request that is not GET or HEAD, and Sec-Fetch-Site, which the page cannot set.
 * twine, pip, setuptools and the agents send neither, so they pass. Only Sec-Fetch-Site
 * `cross-site` is refused outright: a `same-site` request (a sibling host under the same domain)
 * always carries an Origin, and the exact comparison below refuses it already.
 * This site is the request's own origin (the trusted proxy's word included, see requestOrigin),
 * and the origin of server.public_url, which the operator names as the site's address.
 */
export function refuseCrossSite(publicUrl: string | undefined, trustedProxy: string | undefined): RequestHandler {
  const declared = publicUrl === undefined ? undefined : new URL(publicUrl).origin;
  return (request, _response, next) => {
    if (SAFE_METHODS.has(request.method)) return next();
    if (request.get("sec-fetch-site") === "cross-site") throw forbidden(FOREIGN_ORIGIN);
    const origin = request.get("origin");
    if (origin !== undefined && origin !== declared && origin !== requestOrigin(request, trustedProxy)) throw forbidden(FOREIGN_ORIGIN);
    next();
  };
}
