import { tooManyRequests } from "../core/errors.js";

export interface ThrottleSettings {
  /** Failed password sign-ins for one user name before it is locked out. */
  max_failures_per_user: number;
  /** Failed password sign-ins from one address (any names) before it is locked out. */
  max_failures_per_address: number;
  /** The first lockout; each further one doubles it, up to a day. */
  lockout_seconds: number;
}

interface Entry {
  failures: number;
  lastFailureAt: number;
  lockouts: number;
  lockedUntil: number;
}

/** Users and addresses remembered at most; the oldest is forgotten first, so memory stays bounded. */
const MAX_ENTRIES = 10_000;
const MAX_LOCKOUT_MS = 24 * 3600 * 1000;

/**
 * Limits password guessing, per user name (known or not: the answer must not reveal which names
 * exist) and per client address. A locked-out sign-in is refused at once with 429 and Retry-After,
 * before any hashing; nothing ever waits on a timer, so other clients are not slowed down.
 */
export class LoginThrottle {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly settings: ThrottleSettings,
    private readonly now: () => number = Date.now,
  ) {}

  /** Refuse a sign-in while its user name or its address is locked out. */
  check(userName: string, address: string): void {
    const until = Math.max(this.lockedUntil(userKey(userName)), this.lockedUntil(addressKey(address)));
    const waitMs = until - this.now();
    if (waitMs > 0) {
      const seconds = Math.ceil(waitMs / 1000);
      throw tooManyRequests(`Too many failed sign-ins: try again in ${seconds} s, or use an API token`, seconds);
    }
  }

  failed(userName: string, address: string): void {
    this.count(userKey(userName), this.settings.max_failures_per_user);
    this.count(addressKey(address), this.settings.max_failures_per_address);
  }

  /** A correct password clears the name's failures; the address keeps its count. */
  succeeded(userName: string): void {
    this.entries.delete(userKey(userName));
  }

  private lockedUntil(key: string): number {
    return this.entries.get(key)?.lockedUntil ?? 0;
  }

  private count(key: string, limit: number): void {
    const now = this.now();
    const windowMs = this.settings.lockout_seconds * 1000;
    const entry = this.entries.get(key) ?? { failures: 0, lastFailureAt: 0, lockouts: 0, lockedUntil: 0 };
    // Failures far apart are typos, not guessing: they are forgotten after a quiet lockout period.
    if (now - entry.lastFailureAt > windowMs && now > entry.lockedUntil) entry.failures = 0;
    entry.failures += 1;
    entry.lastFailureAt = now;
    if (entry.failures >= limit) {
      entry.lockedUntil = now + Math.min(windowMs * 2 ** entry.lockouts, MAX_LOCKOUT_MS);
      entry.lockouts += 1;
      entry.failures = 0;
    }
    // Re-inserted so the map's order is least recently failed first.
    this.entries.delete(key);
    this.entries.set(key, entry);
    if (this.entries.size > MAX_ENTRIES) this.entries.delete(this.entries.keys().next().value!);
  }
}

const userKey = (name: string) => `user:${name.toLowerCase()}`;
const addressKey = (address: string) => `address:${address}`;
