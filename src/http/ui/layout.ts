import { isSiteAdmin, type Principal } from "../../services/access.js";
import { html, type Html } from "./html.js";

/** Who is looking, and what a page needs to draw its forms and install lines. */
export interface ViewContext {
  viewer: Principal;
  /** The session's CSRF token; null when not signed in (then no form but sign-in is drawn). */
  csrfToken: string | null;
  /** Where this server is reached, for install lines: `http://host:port`. */
  baseUrl: string;
}

export interface PageParts {
  title: string;
  body: Html;
  /** A script of ours (served by the app) the page needs, e.g. the live job log. */
  script?: string;
}

/** The one document around every page: landmarks, a skip link, the navigation and who is signed in. */
export function layout(context: ViewContext, parts: PageParts): string {
  return `<!DOCTYPE html>\n${html`<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${parts.title} · pydepot</title>
<link rel="stylesheet" href="/ui/static/style.css">
<link rel="icon" href="/ui/static/icon.svg" type="image/svg+xml">
${parts.script && html`<script src="/ui/static/${parts.script}" defer></script>`}
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header class="site">
<nav aria-label="Site">
<a class="brand" href="/ui/">pydepot</a>
${isSiteAdmin(context.viewer) && html`<a href="/ui/agents">Agents</a>`}
<a href="/ui/nodes">Nodes</a>
${account(context)}
</nav>
</header>
<main id="main">
${parts.body}
</main>
<footer class="site"><p>pydepot · <a href="/simple/">simple index</a></p></footer>
</body>
</html>`}\n`;
}

function account(context: ViewContext): Html {
  if (context.viewer.kind !== "user" || context.csrfToken === null) return html`<a class="account" href="/ui/sign-in">Sign in</a>`;
  return html`<form class="account" method="post" action="/ui/sign-out">
${csrfField(context)}<span>Signed in as <strong>${context.viewer.name}</strong>${context.viewer.isAdmin && " (site admin)"}</span>
<button type="submit">Sign out</button>
</form>`;
}

/** The hidden field every form of a signed-in page carries. */
export function csrfField(context: ViewContext): Html {
  return html`<input type="hidden" name="csrf" value="${context.csrfToken ?? ""}">`;
}
