/**
 * Which files an index lists: the one rule behind the index pages and the regression check's
 * baseline (the last build a team could have installed). `store/projects.ts` mirrors it in SQL
 * for the root page.
 *
 * sdists are always listed. With clean nodes configured (`gated`), the default index lists eggs
 * and wheels once verified, staging (for the checker and testers) pending ones too, and neither
 * lists failed ones; without nodes every egg and wheel is listed. A held file (a degraded or
 * regressed farm build) is never on the default index, gate or no gate: a build that lost its
 * compiled code must not reach production silently. Staging lists it, so it can be tried.
 */
export type IndexView = "default" | "staging";

export interface ListingFacts {
  kind: "sdist" | "wheel" | "egg";
  verification: "pending" | "verified" | "failed";
  holdReason: string;
}

/** The verifications of eggs and wheels a view lists. */
export function listedVerifications(view: IndexView, gated: boolean): readonly ListingFacts["verification"][] {
  if (!gated) return ["pending", "verified", "failed"];
  return view === "staging" ? ["pending", "verified"] : ["verified"];
}

export function isListed(file: ListingFacts, view: IndexView, gated: boolean): boolean {
  if (file.kind === "sdist") return true;
  return listedVerifications(view, gated).includes(file.verification) && (view === "staging" || file.holdReason === "");
}
