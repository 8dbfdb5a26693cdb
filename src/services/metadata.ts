import { isCompiledModule } from "../core/compiled.js";
import { eggRequirements, parseCoreMetadata, single, type CoreMetadata } from "../core/core-metadata.js";
import { badRequest } from "../core/errors.js";
import type { ArtifactKind } from "../core/types.js";
import { parseRequiresPython } from "../core/versions.js";
import { readTar, readZip, type ArchiveListing, type ArchiveSource } from "./archives.js";

/** What the index keeps from the metadata inside a distribution file. */
export interface ArtifactMetadata {
  name: string;
  version: string;
  summary: string;
  requiresPython: string | null;
  requiresDist: string[];
  /** A wheel's METADATA bytes, served unchanged as the PEP 658 `.metadata` file. */
  coreMetadataFile: Buffer | null;
  /** Compiled extension modules inside (`natmod/_speed.cpython-311-x86_64-linux-gnu.so`); none for sdists. */
  nativeModules: string[];
  /** A wheel's one `.dist-info` folder and what it holds of what pip needs; null for sdists and eggs. */
  wheelLayout: WheelLayout | null;
}

export interface WheelLayout {
  folder: string;
  wheelFile: Buffer | null;
  hasRecord: boolean;
}

export async function readArtifactMetadata(file: ArchiveSource, kind: ArtifactKind, filename: string): Promise<ArtifactMetadata> {
  switch (kind) {
    case "wheel":
      return readWheel(file, filename);
    case "egg":
      return readEgg(file, filename);
    case "sdist":
      return readSdist(file, filename);
  }
}

async function readWheel(file: ArchiveSource, filename: string): Promise<ArtifactMetadata> {
  const isDistInfoFile = (name: string) => /^[^/]+\.dist-info\/(METADATA|WHEEL)$/.test(name);
  const listing = await readZip(file, `wheel ${filename}`, isDistInfoFile);
  const distInfo = [...new Set(listing.names.map((name) => name.split("/")[0]).filter((top) => top.endsWith(".dist-info")))];
  if (distInfo.length !== 1) throw badRequest(`Invalid wheel ${filename}: expected one top-level .dist-info folder, found ${distInfo.length}`);
  const [folder] = distInfo;
  const raw = member(listing, `${folder}/METADATA`, `wheel ${filename}`);
  const metadata = parseCoreMetadata(raw.toString("utf8"), `METADATA in ${filename}`);
  return {
    ...fields(metadata, metadata.get("requires-dist") ?? [], `METADATA in ${filename}`),
    coreMetadataFile: raw,
    nativeModules: listing.names.filter(isCompiledModule),
    wheelLayout: { folder, wheelFile: listing.members.get(`${folder}/WHEEL`) ?? null, hasRecord: listing.names.includes(`${folder}/RECORD`) },
  };
}

async function readEgg(file: ArchiveSource, filename: string): Promise<ArtifactMetadata> {
  const wanted = new Set(["EGG-INFO/PKG-INFO", "EGG-INFO/requires.txt"]);
  const listing = await readZip(file, `egg ${filename}`, (name) => wanted.has(name));
  const metadata = parseCoreMetadata(member(listing, "EGG-INFO/PKG-INFO", `egg ${filename}`).toString("utf8"), `PKG-INFO in ${filename}`);
  const requires = listing.members.get("EGG-INFO/requires.txt")?.toString("utf8") ?? "";
  return {
    ...fields(metadata, eggRequirements(requires), `PKG-INFO in ${filename}`),
    coreMetadataFile: null,
    nativeModules: listing.names.filter(isCompiledModule),
    wheelLayout: null,
  };
}

async function readSdist(file: ArchiveSource, filename: string): Promise<ArtifactMetadata> {
  const wanted = (name: string) => /^[^/]+\/PKG-INFO$/.test(name);
  const label = `sdist ${filename}`;
  const listing = filename.endsWith(".zip") ? await readZip(file, label, wanted) : await readTar(file, filename.endsWith(".tar.bz2") ? "bzip2" : "gzip", label, wanted);
  const pkgInfo = [...listing.members.keys()].filter((name) => name.endsWith("/PKG-INFO"));
  if (pkgInfo.length !== 1) throw badRequest(`Invalid sdist ${filename}: expected one <name>-<version>/PKG-INFO, found ${pkgInfo.length}`);
  const metadata = parseCoreMetadata(listing.members.get(pkgInfo[0])!.toString("utf8"), `PKG-INFO in ${filename}`);
  return {
    ...fields(metadata, metadata.get("requires-dist") ?? [], `PKG-INFO in ${filename}`),
    coreMetadataFile: null,
    nativeModules: [],
    wheelLayout: null,
  };
}

/** `source` names the metadata file in messages (`PKG-INFO in demo-1.0.tar.gz`). */
function fields(metadata: CoreMetadata, requiresDist: string[], source: string) {
  return {
    name: single(metadata, "name")!,
    version: single(metadata, "version")!,
    summary: shortened(single(metadata, "summary") ?? ""),
    requiresPython: parseRequiresPython(single(metadata, "requires-python"), source),
    requiresDist,
  };
}

/**
 * PyPI's 512 characters: the summary shows in every search and listing of the web UI, and a 4 MiB
 * one (a METADATA member may be that large) would bloat and slow them for everyone. Cut, not
 * refused: files uploaded before PyPI checked it carry longer ones.
 */
const MAX_SUMMARY_CHARACTERS = 512;

function shortened(summary: string): string {
  const characters = Array.from(summary.slice(0, 2 * MAX_SUMMARY_CHARACTERS));
  return characters.length <= MAX_SUMMARY_CHARACTERS ? summary : `${characters.slice(0, MAX_SUMMARY_CHARACTERS - 1).join("")}…`;
}

function member(listing: ArchiveListing, name: string, label: string): Buffer {
  const content = listing.members.get(name);
  if (!content) throw badRequest(`Invalid ${label}: it has no ${name}`);
  return content;
}
