/** Branded primitives: values that are strings at run time but must not be mixed up. */
declare const brand: unique symbol;
export type Brand<T, B extends string> = T & { readonly [brand]: B };

/** A PEP 503 normalized project name: lowercase, runs of `-_.` folded to `-`. */
export type NormalizedName = Brand<string, "NormalizedName">;
/** A PEP 440 version in its normal form. */
export type Version = Brand<string, "Version">;
/** Lowercase hex SHA-256. */
export type Sha256 = Brand<string, "Sha256">;
/** A distribution filename that has passed filenames.parse(). */
export type Filename = Brand<string, "Filename">;

export type ArtifactKind = "sdist" | "wheel" | "egg";
export type Role = "view" | "upload" | "admin";
export const ROLES: readonly Role[] = ["view", "upload", "admin"];

/** A build job's id: a positive integer. */
export type JobId = Brand<number, "JobId">;
export const JOB_STATUSES = ["queued", "leased", "succeeded", "failed", "cancelled", "not_applicable"] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];

/** Whether a job can still change by itself: queued or building. Any other status stays until an admin queues it again. */
export function isJobLive(status: JobStatus): boolean {
  return status === "queued" || status === "leased";
}
