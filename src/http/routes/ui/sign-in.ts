import { Router } from "express";
import type { Sessions } from "../../../services/sessions.js";
import { requestOrigin } from "../../identify.js";
import { clearSessionCookie, requireOrigin, requireSessionForm, sessionSecret, setSessionCookie } from "../../ui/session-cookie.js";
import { signInPage } from "../../ui/views/sign-in.js";
import { viewContext } from "./pages.js";

export const SIGN_IN_PATH = "/ui/sign-in";

/** Signing in (password, or an API token without a username) and out. */
export function uiSignInRoutes(sessions: Sessions, publicUrl: string | undefined, trustedProxy: string | undefined): Router {
  const router = Router();
  router.get(SIGN_IN_PATH, (request, response) => {
    const page = signInPage(viewContext(request, response, publicUrl), { next: localPath(request.query.next) });
    response.type("html").set("Cache-Control", "no-store").send(page);
  });
  router.post(SIGN_IN_PATH, async (request, response) => {
    requireOrigin(request);
    const { username, password } = request.body ?? {};
    const signedIn = await sessions.signIn(String(username ?? ""), String(password ?? ""), response.locals.clientAddress);
    // Reached over HTTPS (here, or at the trusted proxy in front): the browser must never send it over plain HTTP.
    const secure = (publicUrl ?? "").startsWith("https:") || requestOrigin(request, trustedProxy)?.startsWith("https:") === true;
    setSessionCookie(response, signedIn.secret, signedIn.expiresAt, secure);
    response.redirect(303, localPath(request.body?.next));
  });
  router.post("/ui/sign-out", requireSessionForm(sessions), (request, response) => {
    sessions.signOut(sessionSecret(request)!);
    clearSessionCookie(response);
    response.redirect(303, "/ui/");
  });
  return router;
}

/** Where to go after signing in: a page of this UI only, never another site. */
function localPath(raw: unknown): string {
  return typeof raw === "string" && raw.startsWith("/ui/") && !raw.startsWith("/ui//") && !raw.includes("\\") ? raw : "/ui/";
}
