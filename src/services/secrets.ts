import { createHash, randomBytes } from "node:crypto";

/** A fresh bearer secret; the prefix tells identify() which kind of credential it is. */
export function newSecret(prefix: string): string {
  return prefix + randomBytes(32).toString("base64url");
}

/** Secrets are stored only as this hash: a copy of the database hands out no credential. */
export function hashSecret(secret: string): string {
  return createHash("sha256").update(secret).digest("hex");
}
