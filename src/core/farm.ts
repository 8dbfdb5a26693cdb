/** Facts of the farm API that the server and the agent must agree on. */

/** Carries the secret of the lease a log or result belongs to: the agent's token alone answers no job. */
export const LEASE_SECRET_HEADER = "X-Pydepot-Lease-Secret";
