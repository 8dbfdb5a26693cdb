import { createHash, randomBytes, scrypt as scryptCallback, timingSafeEqual } from "node:crypto";
import { promisify } from "node:util";
import { badRequest, notFound, unauthorized } from "../core/errors.js";
import { parseProjectName } from "../core/names.js";
import { ROLES, type Role } from "../core/types.js";
import type { AccountStore, TokenRow, UserRow } from "../store/accounts.js";
import { tx, type Db } from "../store/db.js";
import type { HistoryStore } from "../store/history.js";
import type { ProjectStore } from "../store/projects.js";
import type { SessionStore } from "../store/sessions.js";
import type { Principal } from "./access.js";
import { HashingQueue } from "./hashing-queue.js";
import type { LoginThrottle } from "./login-throttle.js";

/** A hash of a random key under a random salt: checking any password against it costs a full scrypt and fails. */
const UNMATCHABLE_HASH = `scrypt$${randomBytes(16).toString("hex")}$${randomBytes(32).toString("hex")}`;
const scrypt = promisify(scryptCallback) as (password: string, salt: Buffer, length: number) => Promise<Buffer>;
const TOKEN_PREFIX = "pydepot-";
/** The username pip and twine send with an API token (PyPI's convention). */
export const TOKEN_USERNAME = "__token__";
const USER_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** Users, passwords and API tokens. Tokens are random, shown once and stored as SHA-256. */
export class Accounts {
  constructor(
    private readonly db: Db,
    private readonly store: AccountStore,
    private readonly projects: ProjectStore,
    private readonly history: HistoryStore,
    /** Web UI sessions end with the credential they were opened with. */
    private readonly sessions: SessionStore,
    private readonly throttle: LoginThrottle,
    private readonly now: () => string,
  ) {}

  private readonly hashing = new HashingQueue();

  async createUser(name: string, password: string | null, isAdmin: boolean, actor: string): Promise<UserRow> {
    if (!USER_NAME.test(name) || name === TOKEN_USERNAME) {
      throw badRequest(`Invalid user name ${JSON.stringify(name)}: use up to 64 letters, digits, '.', '_' or '-'`);
    }
    if (this.store.userByName(name)) throw badRequest(`User ${name} already exists`);
    const hash = password === null ? null : await hashPassword(password);
    this.store.insertUser(name, hash, isAdmin, this.now());
    this.history.record(this.now(), { actor, action: "user.create", subject: name, detail: isAdmin ? "admin" : "" });
    return this.user(name);
  }

  /** A new password ends every web UI session of the user: whoever knew the old one is signed out. */
  async setPassword(name: string, password: string, actor: string): Promise<void> {
    const user = this.user(name);
    const hash = await hashPassword(password);
    tx(this.db, () => {
      this.store.setPassword(user.id, hash);
      this.sessions.deleteByUser(user.id);
      this.history.record(this.now(), { actor, action: "user.password", subject: name });
    });
  }

  user(name: string): UserRow {
    const user = this.store.userByName(name);
    if (!user) throw notFound(`No user named ${name}`);
    return user;
  }

  grant(userName: string, projectName: string, role: string, actor: string): void {
    if (!ROLES.includes(role as Role)) throw badRequest(`Unknown role ${role}: use ${ROLES.join(", ")}`);
    const project = this.projects.byName(parseProjectName(projectName));
    if (!project) throw notFound(`No project named ${projectName}`);
    this.store.setRole(project.id, this.user(userName).id, role as Role);
    // What the user may see changed: cached root pages (per user, keyed by serial) must go.
    this.projects.touch(project.id);
    this.history.record(this.now(), { actor, action: "role.grant", project: project.name, subject: userName, detail: role });
  }

  /** A new token for a user; the secret is returned only here. */
  createToken(userName: string, label: string, actor: string): { id: number; token: string } {
    const user = this.user(userName);
    const token = TOKEN_PREFIX + randomBytes(32).toString("base64url");
    const id = this.store.insertToken(user.id, label, hashToken(token), this.now());
    this.history.record(this.now(), { actor, action: "token.create", subject: `${userName}#${id}`, detail: label });
    return { id, token };
  }

  /** Revoking a token also ends the web UI sessions signed in with it. */
  revokeToken(tokenId: number, actor: string): void {
    tx(this.db, () => {
      if (!this.store.revokeToken(tokenId, this.now())) throw notFound(`No active token with id ${tokenId}`);
      this.sessions.deleteByToken(tokenId);
      this.history.record(this.now(), { actor, action: "token.revoke", subject: `#${tokenId}` });
    });
  }

  tokens(userName: string): TokenRow[] {
    return this.store.tokensOf(this.user(userName).id);
  }

  /**
   * Basic credentials to a principal: `__token__` + token, or user + password (or user + own token).
   * Password attempts are throttled per name and per client address; tokens cannot be guessed.
   */
  async authenticate(username: string, secret: string, address: string): Promise<Principal> {
    return (await this.verify(username, secret, address)).principal;
  }

  /** authenticate(), telling also which API token was used (null for a password): a web UI session ends with it. */
  async verify(username: string, secret: string, address: string): Promise<{ principal: Principal; tokenId: number | null }> {
    if (username === TOKEN_USERNAME || secret.startsWith(TOKEN_PREFIX)) {
      const found = this.store.userByTokenHash(hashToken(secret));
      if (found && (username === TOKEN_USERNAME || username === found.user.name)) return { principal: principalOf(found.user), tokenId: found.tokenId };
      // A user's password may start like a token: it is tried as the password it is.
      if (username === TOKEN_USERNAME) throw unauthorized("Invalid or revoked API token");
    }
    this.throttle.check(username, address);
    const user = this.store.userByName(username);
    // Unknown names and users without a password cost one scrypt too: the timing must not tell which names exist.
    const matches = await this.hashing.run(() => verifyPassword(secret, user?.passwordHash ?? UNMATCHABLE_HASH));
    if (!user?.passwordHash || !matches) {
      this.throttle.failed(username, address);
      throw unauthorized(`Invalid username or password for ${JSON.stringify(username)}`);
    }
    this.throttle.succeeded(username);
    return { principal: principalOf(user), tokenId: null };
  }
}

function principalOf(user: UserRow): Principal {
  return { kind: "user", userId: user.id, name: user.name, isAdmin: user.isAdmin };
}

function hashToken(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}

async function hashPassword(password: string): Promise<string> {
  if (password.length < 8) throw badRequest("Password too short: use at least 8 characters");
  const salt = randomBytes(16);
  const key = await scrypt(password, salt, 32);
  return `scrypt$${salt.toString("hex")}$${key.toString("hex")}`;
}

async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const [, saltHex, keyHex] = stored.split("$");
  const key = await scrypt(password, Buffer.from(saltHex, "hex"), 32);
  return timingSafeEqual(key, Buffer.from(keyHex, "hex"));
}
