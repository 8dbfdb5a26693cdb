import type { Db } from "./db.js";
import type { Role } from "../core/types.js";

export interface UserRow {
  id: number;
  name: string;
  passwordHash: string | null;
  isAdmin: boolean;
}

export interface TokenRow {
  id: number;
  userId: number;
  label: string;
  createdAt: string;
  revokedAt: string | null;
}

/** Users, their API tokens (stored as hashes) and their roles on projects. */
export class AccountStore {
  private readonly userByNameStatement;
  private readonly userByIdStatement;
  private readonly insertUserStatement;
  private readonly setPasswordStatement;
  private readonly userByTokenStatement;
  private readonly insertTokenStatement;
  private readonly revokeTokenStatement;
  private readonly tokensOfStatement;
  private readonly roleStatement;
  private readonly setRoleStatement;
  private readonly projectsOfStatement;

  constructor(db: Db) {
    const userColumns = "u.id, u.name, u.password_hash AS passwordHash, u.is_admin AS isAdmin";
    this.userByNameStatement = db.prepare(`SELECT ${userColumns} FROM users u WHERE u.name = ?`);
    this.userByIdStatement = db.prepare(`SELECT ${userColumns} FROM users u WHERE u.id = ?`);
    this.insertUserStatement = db.prepare(
      "INSERT INTO users (name, password_hash, is_admin, created_at) VALUES (?, ?, ?, ?) RETURNING id",
    ).pluck();
    this.setPasswordStatement = db.prepare("UPDATE users SET password_hash = ? WHERE id = ?");
    this.userByTokenStatement = db.prepare(
      `SELECT ${userColumns}, t.id AS tokenId FROM tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = ? AND t.revoked_at IS NULL`,
    );
    this.insertTokenStatement = db.prepare(
      "INSERT INTO tokens (user_id, label, token_hash, created_at) VALUES (?, ?, ?, ?) RETURNING id",
    ).pluck();
    this.revokeTokenStatement = db.prepare("UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL");
    this.tokensOfStatement = db.prepare(
      "SELECT id, user_id AS userId, label, created_at AS createdAt, revoked_at AS revokedAt FROM tokens WHERE user_id = ? ORDER BY id",
    );
    this.roleStatement = db.prepare("SELECT role FROM roles WHERE project_id = ? AND user_id = ?").pluck();
    this.projectsOfStatement = db.prepare("SELECT project_id FROM roles WHERE user_id = ? ORDER BY project_id").pluck();
    this.setRoleStatement = db.prepare(
      "INSERT INTO roles (project_id, user_id, role) VALUES (?, ?, ?) ON CONFLICT (project_id, user_id) DO UPDATE SET role = excluded.role",
    );
  }

  userByName(name: string): UserRow | undefined {
    return toUser(this.userByNameStatement.get(name));
  }

  userById(id: number): UserRow | undefined {
    return toUser(this.userByIdStatement.get(id));
  }

  insertUser(name: string, passwordHash: string | null, isAdmin: boolean, now: string): number {
    return this.insertUserStatement.get(name, passwordHash, isAdmin ? 1 : 0, now) as number;
  }

  setPassword(userId: number, passwordHash: string): void {
    this.setPasswordStatement.run(passwordHash, userId);
  }

  /** The user a live token belongs to, and the token's id. */
  userByTokenHash(tokenHash: string): { user: UserRow; tokenId: number } | undefined {
    const row = this.userByTokenStatement.get(tokenHash) as { tokenId: number } | undefined;
    if (!row) return undefined;
    const { tokenId, ...user } = row;
    return { user: toUser(user)!, tokenId };
  }

  insertToken(userId: number, label: string, tokenHash: string, now: string): number {
    return this.insertTokenStatement.get(userId, label, tokenHash, now) as number;
  }

  revokeToken(tokenId: number, now: string): boolean {
    return this.revokeTokenStatement.run(now, tokenId).changes === 1;
  }

  tokensOf(userId: number): TokenRow[] {
    return this.tokensOfStatement.all(userId) as TokenRow[];
  }

  role(projectId: number, userId: number): Role | undefined {
    return this.roleStatement.get(projectId, userId) as Role | undefined;
  }

  /** The projects the user holds any role on. */
  projectsOf(userId: number): number[] {
    return this.projectsOfStatement.all(userId) as number[];
  }

  setRole(projectId: number, userId: number, role: Role): void {
    this.setRoleStatement.run(projectId, userId, role);
  }
}

function toUser(raw: unknown): UserRow | undefined {
  if (!raw) return undefined;
  const row = raw as Omit<UserRow, "isAdmin"> & { isAdmin: number };
  return { ...row, isAdmin: row.isAdmin === 1 };
}
