import type { Db } from "./db.js";
import type { UserRow } from "./accounts.js";

export interface SessionRow {
  user: UserRow;
  csrfToken: string;
  expiresAt: string;
}

/** Web UI sessions, known by the hash of their cookie. */
export class SessionStore {
  private readonly insertStatement;
  private readonly byHashStatement;
  private readonly deleteStatement;
  private readonly deleteExpiredStatement;
  private readonly deleteByUserStatement;
  private readonly deleteByTokenStatement;

  constructor(db: Db) {
    this.insertStatement = db.prepare("INSERT INTO sessions (secret_hash, user_id, token_id, csrf_token, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)");
    this.byHashStatement = db.prepare(`SELECT u.id, u.name, u.password_hash AS passwordHash, u.is_admin AS isAdmin, s.csrf_token AS csrfToken,
      s.expires_at AS expiresAt FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.secret_hash = ? AND s.expires_at > ?`);
    this.deleteStatement = db.prepare("DELETE FROM sessions WHERE secret_hash = ?");
    this.deleteExpiredStatement = db.prepare("DELETE FROM sessions WHERE expires_at <= ?");
    this.deleteByUserStatement = db.prepare("DELETE FROM sessions WHERE user_id = ?");
    this.deleteByTokenStatement = db.prepare("DELETE FROM sessions WHERE token_id = ?");
  }

  /** `tokenId` is the API token signed in with, null for a password. */
  insert(secretHash: string, userId: number, tokenId: number | null, csrfToken: string, now: string, expiresAt: string): void {
    this.insertStatement.run(secretHash, userId, tokenId, csrfToken, now, expiresAt);
  }

  /** The live session with this hash, or undefined (unknown or expired). */
  byHash(secretHash: string, now: string): SessionRow | undefined {
    const row = this.byHashStatement.get(secretHash, now) as (Omit<UserRow, "isAdmin"> & { isAdmin: number; csrfToken: string; expiresAt: string }) | undefined;
    if (!row) return undefined;
    const { csrfToken, expiresAt, ...user } = row;
    return { user: { ...user, isAdmin: user.isAdmin === 1 }, csrfToken, expiresAt };
  }

  delete(secretHash: string): void {
    this.deleteStatement.run(secretHash);
  }

  deleteExpired(now: string): void {
    this.deleteExpiredStatement.run(now);
  }

  deleteByUser(userId: number): void {
    this.deleteByUserStatement.run(userId);
  }

  deleteByToken(tokenId: number): void {
    this.deleteByTokenStatement.run(tokenId);
  }
}
