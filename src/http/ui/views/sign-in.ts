import { html } from "../html.js";
import { layout, type ViewContext } from "../layout.js";

/** The sign-in form; after a refusal it comes back with the reason and the name as typed. */
export function signInPage(context: ViewContext, options: { next: string; username?: string; error?: string } ): string {
  const body = html`<h1>Sign in</h1>
${options.error && html`<p class="error" role="alert" id="sign-in-error">${options.error}</p>`}
<form class="stacked" method="post" action="/ui/sign-in">
<input type="hidden" name="next" value="${options.next}">
<label for="username">Username (leave empty to sign in with an API token)</label>
<input id="username" name="username" autocomplete="username" value="${options.username ?? ""}">
<label for="password">Password or API token</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">Sign in</button>
</form>`;
  return layout(context, { title: "Sign in", body });
}

/** An error as a page of its own: the status and the same one-line message the API gives. */
export function errorPage(context: ViewContext, status: number, message: string): string {
  const body = html`<h1>${status === 404 ? "Not found" : status === 403 ? "Not allowed" : status === 400 ? "Bad request" : "Something went wrong"}</h1>
<p class="error" role="alert">${message}</p>
<p><a href="/ui/">Back to the packages</a></p>`;
  return layout(context, { title: `Error ${status}`, body });
}
