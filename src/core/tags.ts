/** What a build target accepts: the interpreter's wheel tags and its egg platform. */
export interface TargetTags {
  kind: "wheel" | "egg";
  /** `X.Y.Z` */
  pythonVersion: string;
  eggPlatform: string;
  wheelTags: readonly string[];
}

/** The parts of a stored file that decide where it installs. */
export interface FileTags {
  kind: "sdist" | "wheel" | "egg";
  pythonTag: string;
  abiTag: string | null;
  platform: string | null;
}

/** Expand a compressed tag set (`py2.py3-none-any`) into every tag it stands for. */
export function expandWheelTags(pythonTag: string, abiTag: string, platform: string): string[] {
  return pythonTag.split(".").flatMap((python) =>
    abiTag.split(".").flatMap((abi) => platform.split(".").map((plat) => `${python}-${abi}-${plat}`)),
  );
}

/** Whether a platform string (wheel tag or egg platform) names compiled code: anything but `any` / none. */
export function isPlatformSpecific(file: FileTags): boolean {
  return file.kind === "wheel" ? file.platform !== "any" : file.kind === "egg" && file.platform !== null;
}

/**
 * The one Python "X.Y" a file is built for (`py2.7` of an egg, `cp311` of a wheel), or null when
 * its tags name none or several (`py3`, `py2.py3`).
 */
export function builtForPython(file: FileTags): string | null {
  const match = /^(?:py|cp)(\d)\.?(\d+)$/.exec(file.pythonTag);
  return match ? `${match[1]}.${match[2]}` : null;
}

/** Whether a target's interpreter would install this file, as pip and easy_install decide. */
export function fits(file: FileTags, target: TargetTags): boolean {
  if (file.kind !== target.kind) return false;
  if (file.kind === "egg") {
    const [major, minor] = target.pythonVersion.split(".");
    return file.pythonTag === `py${major}.${minor}` && (file.platform === null || file.platform === target.eggPlatform);
  }
  const supported = new Set(target.wheelTags);
  return expandWheelTags(file.pythonTag, file.abiTag ?? "none", file.platform ?? "any").some((tag) => supported.has(tag));
}
