// The web UI as a browser without JavaScript uses it: pages fetched with the session cookie,
// forms posted url-encoded with the page's CSRF token and the Origin a browser sends.
export interface UiReply {
  status: number;
  statusText: string;
  headers: Headers;
  body: string;
}

export interface UiSession {
  cookie: string;
  csrf: string;
}

export async function uiGet(baseUrl: string, path: string, session?: UiSession | null, auth?: string): Promise<UiReply> {
  const headers: Record<string, string> = {};
  if (session) headers.Cookie = session.cookie;
  if (auth) headers.Authorization = auth;
  return reply(await fetch(`${baseUrl}${path}`, { headers, redirect: "manual" }));
}

/** A form post; `origin` null sends none, and by default it is the server's own; `headers` as a proxy adds them. */
export async function uiPost(
  baseUrl: string,
  path: string,
  fields: Record<string, string>,
  options: { session?: UiSession | null; origin?: string | null; headers?: Record<string, string> } = {},
): Promise<UiReply> {
  const headers: Record<string, string> = { ...options.headers, "Content-Type": "application/x-www-form-urlencoded" };
  const origin = options.origin === undefined ? baseUrl : options.origin;
  if (origin !== null) headers.Origin = origin;
  if (options.session) headers.Cookie = options.session.cookie;
  return reply(await fetch(`${baseUrl}${path}`, { method: "POST", headers, body: new URLSearchParams(fields).toString(), redirect: "manual" }));
}

/** Sign in through the form; the session's cookie and the CSRF token its pages carry. */
export async function signIn(baseUrl: string, username: string, password: string): Promise<UiSession> {
  const answer = await uiPost(baseUrl, "/ui/sign-in", { username, password, next: "/ui/" });
  if (answer.status !== 303) throw new Error(`sign-in of ${username || "a token"} failed: ${answer.status} ${answer.statusText}`);
  const cookie = answer.headers.get("set-cookie")!.split(";")[0];
  const page = await uiGet(baseUrl, "/ui/", { cookie, csrf: "" });
  return { cookie, csrf: csrfOf(page.body) };
}

export function csrfOf(page: string): string {
  const match = /name="csrf" value="([^"]+)"/.exec(page);
  if (!match) throw new Error("no CSRF token on the page: not signed in?");
  return match[1];
}

async function reply(response: Response): Promise<UiReply> {
  return { status: response.status, statusText: response.statusText, headers: response.headers, body: await response.text() };
}
