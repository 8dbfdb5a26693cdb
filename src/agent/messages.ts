/** What the agent sends about one interpreter and artifact kind (the server validates it). */
export interface TargetMessage {
  kind: "wheel" | "egg";
  implementation: string;
  python_version: string;
  os: string;
  arch: string;
  platform: string;
  egg_platform: string;
  wheel_tags: string[];
}

/** A job as the lease endpoint describes it. */
export interface LeasedJobMessage {
  id: number;
  project: string;
  version: string;
  sdist: { filename: string; path: string; sha256: string };
  target: { key: string; kind: "wheel" | "egg"; pythonVersion: string };
  timeoutSeconds: number;
  leaseSeconds: number;
  /** Sent back with every log and result of this lease; never given to the build. */
  leaseSecret: string;
  /** The build's read-only index credential, valid while this lease is held. */
  buildToken: string;
}
