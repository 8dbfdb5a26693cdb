/** A compressed archive may unpack to at most this multiple of its size… */
const MAX_EXPANSION = 100;
/** …and always to this much: small honest archives compress better than 100 to 1. */
const MIN_UNPACK_BUDGET = 64 * 1024 * 1024;

/**
 * How many bytes an archive of `archiveBytes` may unpack to before it counts as a bomb: the one
 * rule for the server reading an upload and for an agent reading what a build made.
 */
export function unpackBudget(archiveBytes: number): number {
  return Math.max(MIN_UNPACK_BUDGET, archiveBytes * MAX_EXPANSION);
}
