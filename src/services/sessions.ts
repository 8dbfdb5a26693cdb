import { timingSafeEqual } from "node:crypto";
import { forbidden } from "../core/errors.js";
import type { SessionStore } from "../store/sessions.js";
import type { Principal } from "./access.js";
import { TOKEN_USERNAME, type Accounts } from "./accounts.js";
import { hashSecret, newSecret } from "./secrets.js";

/** How long a web UI sign-in lasts: a working day, then sign in again. */
const SESSION_MS = 12 * 60 * 60 * 1000;
const SESSION_PREFIX = "pydepot-session-";
const CSRF_PREFIX = "pydepot-csrf-";

export interface Session {
  principal: Extract<Principal, { kind: "user" }>;
  /** What every form of this session sends back, so another site cannot post in its name. */
  csrfToken: string;
}

/**
 * Web UI sign-ins on top of the same credentials pip and twine use (a password, or an API token
 * without a username), checked by `accounts.authenticate` with its throttle. The cookie's secret
 * is stored only as a hash.
 */
export class Sessions {
  constructor(
    private readonly store: SessionStore,
    private readonly accounts: Accounts,
    private readonly now: () => string,
  ) {}

  async signIn(username: string, secret: string, address: string): Promise<{ secret: string; session: Session; expiresAt: Date }> {
    const { principal, tokenId } = await this.accounts.verify(username.trim() || TOKEN_USERNAME, secret, address);
    if (principal.kind !== "user") throw forbidden("Only users sign in to the web UI");
    this.store.deleteExpired(this.now());
    const sessionSecret = newSecret(SESSION_PREFIX);
    const csrfToken = newSecret(CSRF_PREFIX);
    const expiresAt = new Date(Date.parse(this.now()) + SESSION_MS);
    this.store.insert(hashSecret(sessionSecret), principal.userId, tokenId, csrfToken, this.now(), expiresAt.toISOString());
    return { secret: sessionSecret, session: { principal, csrfToken }, expiresAt };
  }

  /** The session a cookie names, or null when it is unknown, expired or signed out. */
  session(secret: string): Session | null {
    const row = this.store.byHash(hashSecret(secret), this.now());
    if (!row) return null;
    return { principal: { kind: "user", userId: row.user.id, name: row.user.name, isAdmin: row.user.isAdmin }, csrfToken: row.csrfToken };
  }

  /** Whether a form's token is its session's own. */
  csrfMatches(session: Session, sent: unknown): boolean {
    if (typeof sent !== "string") return false;
    // Compared as bytes: a string of the token's length in characters may be longer in UTF-8.
    const [given, own] = [Buffer.from(sent), Buffer.from(session.csrfToken)];
    return given.length === own.length && timingSafeEqual(given, own);
  }

  signOut(secret: string): void {
    this.store.delete(hashSecret(secret));
  }
}
