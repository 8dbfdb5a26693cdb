import { badRequest } from "./errors.js";
import { isValidName, normalize } from "./names.js";
import { normalizeVersion } from "./versions.js";
import type { ArtifactKind, Filename, NormalizedName, Version } from "./types.js";

/** What a distribution filename says about the file. */
export interface ArtifactName {
  filename: Filename;
  kind: ArtifactKind;
  project: NormalizedName;
  version: Version;
  /** Wheel python tag (`py2.py3`, `cp311`), egg `py2.7`, `source` for sdists. */
  pythonTag: string;
  /** Wheel ABI tag; null for sdists and eggs. */
  abiTag: string | null;
  /** Wheel platform tag (`any`, `linux_x86_64`), egg platform (`linux-x86_64`), null when none. */
  platform: string | null;
  buildTag: string | null;
}

/**
 * Which file of a release an installer takes this one for: its kind, and a wheel's build tag
 * and tags or an egg's Python and platform, compared as pip compares them: tags lowercased, a
 * compressed tag set as the set it stands for (`py3.py2` is `py2.py3`), a build tag as its number
 * and the rest (`01` is build 1). A release has one sdist whatever its format (PyPI's rule). Two
 * files of a release with one slot are one distribution under two names.
 */
export function distributionSlot(file: Pick<ArtifactName, "kind" | "pythonTag" | "abiTag" | "platform" | "buildTag">): string {
  if (file.kind === "sdist") return "sdist";
  if (file.kind === "egg") return [file.kind, file.pythonTag, file.platform ?? ""].join("-").toLowerCase();
  return [file.kind, buildNumber(file.buildTag ?? ""), tagSet(file.pythonTag), tagSet(file.abiTag ?? ""), tagSet(file.platform ?? "")].join("-");
}

function tagSet(tags: string): string {
  return [...new Set(tags.toLowerCase().split("."))].sort().join(".");
}

/** pip reads a build tag as (its leading digits as a number, the rest). */
function buildNumber(buildTag: string): string {
  const match = /^(\d+)(.*)$/.exec(buildTag);
  return match ? `${BigInt(match[1])}${match[2]}` : buildTag;
}

/** A file name may have 255 bytes (ext4, XFS, ZFS); a wheel's is stored again with this suffix (PEP 658). */
const MAX_NAME_BYTES = 255;
const METADATA_SUFFIX = ".metadata";

const SDIST_EXTENSIONS = [".tar.gz", ".tar.bz2", ".zip"] as const;
const SAFE_CHARACTERS = /^[A-Za-z0-9._+!-]+$/;
const WHEEL_NAME = /^[A-Za-z0-9_.]+$/;
/** A compressed tag set (PEP 425): tags joined by '.', none empty (`py2.py3`, not `..py3`). */
const WHEEL_TAG_SET = /^[A-Za-z0-9_]+(?:\.[A-Za-z0-9_]+)*$/;
const EGG = /^(?<name>[^-]+)-(?<version>[^-]+)-py(?<python>\d+\.\d+)(?:-(?<platform>.+))?\.egg$/;

/**
 * Parse an sdist, wheel or egg filename. With a known project, the name part must belong to it
 * and legacy sdist names with unescaped dashes (`dep-a-1.0.tar.gz`) split where pip splits them.
 */
export function parseFilename(filename: string, knownProject?: NormalizedName): ArtifactName {
  if (!SAFE_CHARACTERS.test(filename) || filename.startsWith(".") || filename.length > MAX_NAME_BYTES) {
    throw badRequest(
      `Invalid filename ${JSON.stringify(filename)}: a distribution filename uses only ASCII letters, digits and . _ - + !`,
    );
  }
  const parsed = filename.endsWith(".whl")
    ? parseWheel(filename)
    : filename.endsWith(".egg")
      ? parseEgg(filename)
      : parseSdist(filename, knownProject);
  if (knownProject && parsed.project !== knownProject) {
    throw badRequest(`Filename ${filename} does not belong to project ${knownProject}`);
  }
  return parsed;
}

/** The project a filename's name part names: a name no route could look up again is refused here. */
function projectFrom(filename: string, text: string): NormalizedName {
  if (!isValidName(text)) throw badRequest(`Invalid filename ${filename}: ${JSON.stringify(text)} is no project name (ASCII letters, digits, '.', '_' and '-', starting and ending with a letter or digit)`);
  return normalize(text);
}

function versionFrom(filename: string, text: string): Version {
  const version = normalizeVersion(text.replace(/_/g, "-"));
  if (!version) throw badRequest(`Invalid version ${JSON.stringify(text)} in filename ${filename}: it is not a PEP 440 version`);
  return version;
}

function parseWheel(filename: string): ArtifactName {
  // Found as a 500 (ENAMETOOLONG) at the commit, after the wheel had been read.
  if (filename.length + METADATA_SUFFIX.length > MAX_NAME_BYTES) {
    throw badRequest(`Invalid wheel filename ${filename}: it has ${filename.length} characters, and a wheel's may have ${MAX_NAME_BYTES - METADATA_SUFFIX.length}, so that its metadata file (PEP 658: the filename and ${METADATA_SUFFIX}) fits the ${MAX_NAME_BYTES} a file name may have`);
  }
  const parts = filename.slice(0, -".whl".length).split("-");
  if (parts.length !== 5 && parts.length !== 6) {
    throw badRequest(`Invalid wheel filename ${filename}: expected name-version[-build]-python-abi-platform.whl`);
  }
  const [name, versionText] = parts;
  const [pythonTag, abiTag, platform] = parts.slice(-3);
  const buildTag = parts.length === 6 ? parts[2] : null;
  if (!WHEEL_NAME.test(name) || name.includes("__")) throw badRequest(`Invalid wheel filename ${filename}: bad project name part ${name}`);
  if (buildTag !== null && !/^\d/.test(buildTag)) throw badRequest(`Invalid wheel filename ${filename}: the build tag must start with a digit`);
  if (![pythonTag, abiTag, platform].every((tag) => WHEEL_TAG_SET.test(tag))) {
    throw badRequest(`Invalid wheel filename ${filename}: malformed compatibility tags`);
  }
  return {
    filename: filename as Filename,
    kind: "wheel",
    project: projectFrom(filename, name),
    version: versionFrom(filename, versionText),
    pythonTag,
    abiTag,
    platform,
    buildTag,
  };
}

/**
 * The distribution a wheel's `{name}-{version}.dist-info` folder names (the name escaped as in the
 * filename, so the first `-` ends it), or null when the folder is not of that shape. Installed,
 * this folder is the distribution: pip list, pip uninstall and importlib.metadata find it by it.
 */
export function parseDistInfoFolder(folder: string): { project: NormalizedName; version: Version } | null {
  const match = /^(?<name>[^-]+)-(?<version>.+)\.dist-info$/.exec(folder);
  if (!match?.groups || !isValidName(match.groups.name)) return null;
  const version = normalizeVersion(match.groups.version.replace(/_/g, "-"));
  return version ? { project: normalize(match.groups.name), version } : null;
}

function parseEgg(filename: string): ArtifactName {
  const match = EGG.exec(filename);
  if (!match?.groups) {
    throw badRequest(`Invalid egg filename ${filename}: expected name-version-pyX.Y[-platform].egg with '-' in names written as '_'`);
  }
  const { name, version, python, platform } = match.groups;
  return {
    filename: filename as Filename,
    kind: "egg",
    project: projectFrom(filename, name),
    version: versionFrom(filename, version),
    pythonTag: `py${python}`,
    abiTag: null,
    platform: platform ?? null,
    buildTag: null,
  };
}

function parseSdist(filename: string, knownProject?: NormalizedName): ArtifactName {
  const extension = SDIST_EXTENSIONS.find((ext) => filename.endsWith(ext));
  if (!extension) {
    throw badRequest(`Invalid filename ${filename}: expected an sdist (.tar.gz, .tar.bz2, .zip), a wheel (.whl) or an egg (.egg)`);
  }
  const stem = filename.slice(0, -extension.length);
  const separator = nameVersionSeparator(stem, knownProject);
  if (separator <= 0 || separator === stem.length - 1) {
    throw badRequest(`Invalid sdist filename ${filename}: expected name-version${extension}`);
  }
  return {
    filename: filename as Filename,
    kind: "sdist",
    project: projectFrom(filename, stem.slice(0, separator)),
    version: versionFrom(filename, stem.slice(separator + 1)),
    pythonTag: "source",
    abiTag: null,
    platform: null,
    buildTag: null,
  };
}

/** pip's rule: the first `-` whose prefix normalizes to the project; without one, the last `-`. */
function nameVersionSeparator(stem: string, knownProject?: NormalizedName): number {
  if (knownProject) {
    for (let index = stem.indexOf("-"); index !== -1; index = stem.indexOf("-", index + 1)) {
      if (normalize(stem.slice(0, index)) === knownProject) return index;
    }
  }
  return stem.lastIndexOf("-");
}
