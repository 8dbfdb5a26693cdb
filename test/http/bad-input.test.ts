// Every way an upload can be wrong: the status, the reason phrase twine prints, a server that
// still answers, and not one row or file changed.
import { randomBytes } from "node:crypto";
import { readdirSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import {
  egg,
  appendedTarSdist,
  encryptedMember,
  globalPaxSdist,
  locallyRenamedMember,
  gzipOfGarbage,
  linkedPkgInfoSdist,
  lyingZipBombWheel,
  memberCompressedBy,
  miscountedZipWheel,
  mismatchedWheel,
  moduleBombWheel,
  notAnArchive,
  nulNamedWheel,
  sdist,
  sdistWithEntry,
  tarBomb,
  truncated,
  twoMetadataWheel,
  twoPkgInfoSdist,
  unicodePathWheel,
  wheel,
  wheelWithLayout,
  wheelWithMetadata,
  zipBombWheel,
  type Artifact,
} from "../support/artifacts.js";
import { twineUpload } from "../support/clients.js";
import { startTestServer, type TestServer } from "../support/server.js";
import { snapshot } from "../support/snapshot.js";
import { expectRefused, get, publish, rawRequest, tokenAuth, upload, type UploadOptions } from "./requests.js";

const MiB = 1024 * 1024;

describe("refused uploads", () => {
  let server: TestServer;
  const tokens: Record<string, string> = {};

  beforeAll(async () => {
    server = await startTestServer();
    tokens.alice = await server.userToken("alice");
    tokens.bob = await server.userToken("bob");
    await publish(server, tokens.alice, await wheel({ name: "demo", version: "1.0" }));
  });

  afterAll(() => server?.stop());

  interface Case {
    artifact: () => Promise<Artifact>;
    /** Who sends it (default alice, who owns "demo"). */
    as?: "alice" | "bob" | "anonymous";
    fields?: UploadOptions["fields"];
    extraFields?: UploadOptions["extraFields"];
    extraFiles?: UploadOptions["extraFiles"];
    contentFilename?: string | null;
    status?: number;
    message: string;
  }

  const demoSdist = () => sdist({ name: "demo", version: "2.0" });
  const demoWheel = () => wheel({ name: "demo", version: "2.0" });
  const evil = () => sdist({ name: "evil", version: "1.0" });
  const ONLY_SAFE_CHARACTERS = "a distribution filename uses only ASCII letters, digits and . _ - + !";

  const cases: [string, Case][] = [
    // filenames
    ["unknown extension", { artifact: demoSdist, contentFilename: "demo-2.0.exe", message: "Invalid filename demo-2.0.exe: expected an sdist (.tar.gz, .tar.bz2, .zip), a wheel (.whl) or an egg (.egg)" }],
    ["wheel filename with too few parts", { artifact: demoWheel, contentFilename: "demo-2.0-any.whl", message: "Invalid wheel filename demo-2.0-any.whl: expected name-version[-build]-python-abi-platform.whl" }],
    ["a wheel filename of 251 characters (its .metadata file would pass the 255 a file name may have)", { artifact: () => wheel({ name: "l".repeat(230), version: "1.0" }), message: `Invalid wheel filename ${"l".repeat(230)}-1.0-py3-none-any.whl: it has 251 characters, and a wheel's may have 246, so that its metadata file (PEP 658: the filename and .metadata) fits the 255 a file name may have` }],
    ["egg filename without -pyX.Y", { artifact: () => egg({ name: "demo", version: "2.0", python: "2.7" }), contentFilename: "demo-2.0.egg", message: "Invalid egg filename demo-2.0.egg" }],
    ["path traversal ../", { artifact: evil, contentFilename: "../evil-1.0.tar.gz", message: `Invalid filename "../evil-1.0.tar.gz": ${ONLY_SAFE_CHARACTERS}` }],
    ["path traversal ..\\", { artifact: evil, contentFilename: "..\\evil-1.0.tar.gz", message: `Invalid filename "..\\\\evil-1.0.tar.gz": ${ONLY_SAFE_CHARACTERS}` }],
    ["absolute path", { artifact: evil, contentFilename: "/tmp/evil-1.0.tar.gz", message: `Invalid filename "/tmp/evil-1.0.tar.gz": ${ONLY_SAFE_CHARACTERS}` }],
    ["shell characters", { artifact: evil, contentFilename: "evil$(id)-1.0.tar.gz", message: `Invalid filename "evil$(id)-1.0.tar.gz": ${ONLY_SAFE_CHARACTERS}` }],
    ["a space", { artifact: evil, contentFilename: "evil 1.0.tar.gz", message: `Invalid filename "evil 1.0.tar.gz": ${ONLY_SAFE_CHARACTERS}` }],
    ["non-ASCII", { artifact: evil, contentFilename: "évil-1.0.tar.gz", message: ONLY_SAFE_CHARACTERS }],
    ["a hidden file", { artifact: evil, contentFilename: ".evil-1.0.tar.gz", message: `Invalid filename ".evil-1.0.tar.gz": ${ONLY_SAFE_CHARACTERS}` }],
    // form vs filename vs metadata
    ["name field vs filename", { artifact: demoSdist, fields: { name: "other" }, message: "Filename demo-2.0.tar.gz does not belong to project other" }],
    ["version field vs filename", { artifact: demoSdist, fields: { version: "2.1" }, message: "Version mismatch: the form says 2.1, the filename demo-2.0.tar.gz says 2.0" }],
    ["metadata Name vs filename", { artifact: () => mismatchedWheel({ name: "demo", version: "2.0", metadataName: "other" }), message: "Name mismatch: demo-2.0-py3-none-any.whl is for demo, but its metadata says Name: other" }],
    ["metadata Version vs filename", { artifact: () => mismatchedWheel({ name: "demo", version: "2.0", metadataVersion: "2.1" }), message: "Version mismatch: demo-2.0-py3-none-any.whl is version 2.0, but its metadata says Version: 2.1" }],
    ["metadata Name with a look-alike letter that lowercases to ASCII (the Kelvin sign for K)", { artifact: () => wheelWithMetadata({ name: "kelvin", version: "1.0" }, "Metadata-Version: 2.1\nName: \u212Aelvin\nVersion: 1.0\n"), message: "Invalid metadata in kelvin-1.0-py3-none-any.whl: Name \"<U+212A>elvin\" is no project name (ASCII letters, digits, '.', '_' and '-', starting and ending with a letter or digit)" }],
    ["metadata whose Metadata-Version is no version", { artifact: () => wheelWithMetadata({ name: "demo", version: "2.0" }, "Metadata-Version: banana\nName: demo\nVersion: 2.0\n"), message: 'Invalid METADATA in demo-2.0-py3-none-any.whl: Metadata-Version "banana" is not MAJOR.MINOR' }],
    ["a wheel whose .dist-info folder is another distribution's", { artifact: () => wheelWithMetadata({ name: "demo", version: "2.0", distInfo: "pip-99.dist-info" }, "Metadata-Version: 2.1\nName: demo\nVersion: 2.0\n"), message: "Invalid wheel demo-2.0-py3-none-any.whl: its pip-99.dist-info folder is not demo 2.0's, and pip would install the wheel as the distribution that folder names; name it demo-2.0.dist-info" }],
    ["a wheel whose .dist-info folder only starts like the project's", { artifact: () => wheelWithMetadata({ name: "demo", version: "2.0", distInfo: "demonic-2.0.dist-info" }, "Metadata-Version: 2.1\nName: demo\nVersion: 2.0\n"), message: "Invalid wheel demo-2.0-py3-none-any.whl: its demonic-2.0.dist-info folder is not demo 2.0's, and pip would install the wheel as the distribution that folder names; name it demo-2.0.dist-info" }],
    // pip compares only the start of the normalized folder name: demo_utils passes, and installs as demo-utils over that project's files.
    ["a wheel whose .dist-info folder is another project's that starts with demo_", { artifact: () => wheelWithMetadata({ name: "demo", version: "2.0", distInfo: "demo_utils-2.0.dist-info" }, "Metadata-Version: 2.1\nName: demo\nVersion: 2.0\n"), message: "Invalid wheel demo-2.0-py3-none-any.whl: its demo_utils-2.0.dist-info folder is not demo 2.0's, and pip would install the wheel as the distribution that folder names; name it demo-2.0.dist-info" }],
    ["a wheel whose .dist-info folder names another version", { artifact: () => wheelWithMetadata({ name: "demo", version: "2.0", distInfo: "demo-9.9.dist-info" }, "Metadata-Version: 2.1\nName: demo\nVersion: 2.0\n"), message: "Invalid wheel demo-2.0-py3-none-any.whl: its demo-9.9.dist-info folder is not demo 2.0's, and pip would install the wheel as the distribution that folder names; name it demo-2.0.dist-info" }],
    ["a wheel whose .dist-info folder names no version", { artifact: () => wheelWithMetadata({ name: "demo", version: "2.0", distInfo: "demo.dist-info" }, "Metadata-Version: 2.1\nName: demo\nVersion: 2.0\n"), message: "Invalid wheel demo-2.0-py3-none-any.whl: its demo.dist-info folder is not demo 2.0's, and pip would install the wheel as the distribution that folder names; name it demo-2.0.dist-info" }],
    ["a wheel without WHEEL (pip: could not read WHEEL file)", { artifact: () => wheelWithLayout({ name: "demo", version: "2.0" }, { wheelFile: null, record: true }), message: "Invalid wheel demo-2.0-py3-none-any.whl: it has no demo-2.0.dist-info/WHEEL, so pip refuses to install it" }],
    ["a wheel whose WHEEL has no Wheel-Version", { artifact: () => wheelWithLayout({ name: "demo", version: "2.0" }, { wheelFile: "Root-Is-Purelib: true\n", record: true }), message: "Invalid demo-2.0.dist-info/WHEEL in demo-2.0-py3-none-any.whl: no Wheel-Version, so pip refuses to install the wheel" }],
    ["a wheel of Wheel-Version 2.0 (pip knows 1.x)", { artifact: () => wheelWithLayout({ name: "demo", version: "2.0" }, { wheelFile: "Wheel-Version: 2.0\n", record: true }), message: "Unsupported demo-2.0.dist-info/WHEEL in demo-2.0-py3-none-any.whl: Wheel-Version 2.0, which pip refuses to install (it knows 1.x)" }],
    ["a wheel without RECORD", { artifact: () => wheelWithLayout({ name: "demo", version: "2.0" }, { wheelFile: "Wheel-Version: 1.0\n", record: false }), message: "Invalid wheel demo-2.0-py3-none-any.whl: it has no demo-2.0.dist-info/RECORD, so pip refuses to install it" }],
    ["invalid PEP 440 version in the filename", { artifact: () => sdist({ name: "demo", version: "banana" }), message: 'Invalid version "banana" in filename demo-banana.tar.gz: it is not a PEP 440 version' }],
    ["invalid PEP 440 version in the form", { artifact: demoSdist, fields: { version: "banana" }, message: 'Invalid version "banana": it is not a PEP 440 version' }],
    // @renovatebot/pep440 reads each number as a JavaScript number: past 2^53 it rounded to another release's version.
    ["a version number past 2^53 in the filename", { artifact: () => sdist({ name: "demo", version: "1.99999999999999999999" }), message: 'Invalid version "1.99999999999999999999": its number 99999999999999999999 is larger than 9007199254740991, the largest a version number may be here' }],
    ["a wheel whose metadata names another version past 2^53 (both rounded to one)", { artifact: () => wheelWithMetadata({ name: "demo", version: "1.100000000000000000001" }, "Metadata-Version: 2.1\nName: demo\nVersion: 1.99999999999999999999\n"), fields: { version: "1.100000000000000000001" }, message: 'Invalid version "1.100000000000000000001": its number 100000000000000000001 is larger than 9007199254740991' }],
    ["invalid project name", { artifact: demoSdist, fields: { name: "-demo-" }, message: 'Invalid project name "-demo-": use ASCII letters, digits' }],
    // digests
    ["wrong md5_digest", { artifact: demoSdist, fields: { md5_digest: "0".repeat(32) }, message: "The digest supplied does not match a digest calculated from the uploaded file (md5_digest)" }],
    ["wrong sha256_digest", { artifact: demoSdist, fields: { sha256_digest: "0".repeat(64) }, message: "The digest supplied does not match a digest calculated from the uploaded file (sha256_digest)" }],
    ["wrong blake2_256_digest", { artifact: demoSdist, fields: { blake2_256_digest: "0".repeat(64) }, message: "The digest supplied does not match a digest calculated from the uploaded file (blake2_256_digest)" }],
    ["a right sha256_digest, then a wrong one", { artifact: demoSdist, extraFields: [["sha256_digest", "0".repeat(64)]], message: "Malformed upload: form field 'sha256_digest' is given 2 times; send it once" }],
    ["a second :action", { artifact: demoSdist, extraFields: [[":action", "submit"]], message: "Malformed upload: form field ':action' is given 2 times; send it once" }],
    ["no digest at all", { artifact: demoSdist, fields: { md5_digest: null, sha256_digest: null, blake2_256_digest: null }, message: "Missing digest: send md5_digest, sha256_digest or blake2_256_digest" }],
    // archives
    [".whl that is not a zip", { artifact: async () => notAnArchive(await demoWheel()), message: "Invalid wheel demo-2.0-py3-none-any.whl: not a readable zip archive" }],
    ["truncated .whl", { artifact: async () => truncated(await demoWheel()), message: "Invalid wheel demo-2.0-py3-none-any.whl: not a readable zip archive" }],
    [".whl without a .dist-info folder", { artifact: async () => ({ ...(await demoWheel()), bytes: (await egg({ name: "demo", version: "2.0", python: "2.7" })).bytes }), message: "Invalid wheel demo-2.0-py3-none-any.whl: expected one top-level .dist-info folder, found 0" }],
    [".egg that is not a zip", { artifact: async () => notAnArchive(await egg({ name: "demo", version: "2.0", python: "2.7" })), message: "Invalid egg demo-2.0-py2.7.egg: not a readable zip archive" }],
    [".tar.gz that is not gzip", { artifact: async () => notAnArchive(await demoSdist()), message: "Invalid sdist demo-2.0.tar.gz: corrupt or truncated archive" }],
    [".tar.gz of something that is not a tar", { artifact: async () => gzipOfGarbage(await demoSdist()), message: "Invalid sdist demo-2.0.tar.gz: corrupt or truncated archive" }],
    ["truncated .tar.gz", { artifact: async () => truncated(await demoSdist()), message: "Invalid sdist demo-2.0.tar.gz: corrupt or truncated archive" }],
    ["truncated .tar.bz2", { artifact: async () => truncated(await sdist({ name: "demo", version: "2.0", format: "tar.bz2" })), message: "Invalid sdist demo-2.0.tar.bz2: corrupt or truncated archive" }],
    [".tar.bz2 that is not bzip2", { artifact: async () => notAnArchive(await sdist({ name: "demo", version: "2.0", format: "tar.bz2" })), message: "Invalid sdist demo-2.0.tar.bz2: corrupt or truncated archive" }],
    ["truncated .zip sdist", { artifact: async () => truncated(await sdist({ name: "demo", version: "2.0", format: "zip" })), message: "Invalid sdist demo-2.0.zip: not a readable zip archive" }],
    ["zip bomb (METADATA inflates to 50 MiB)", { artifact: () => zipBombWheel({ name: "demo", version: "2.0" }), message: "Invalid wheel demo-2.0-py3-none-any.whl: demo-2.0.dist-info/METADATA unpacks to more than 4194304 bytes" }],
    ["zip bomb lying about its size", { artifact: () => lyingZipBombWheel({ name: "demo", version: "2.0" }), message: "Invalid wheel demo-2.0-py3-none-any.whl: not a readable zip archive" }],
    // Python's zipfile (pip, easy_install) unpacks no encrypted member and no method but stored, deflate, bzip2 and lzma: the install fails.
    ["a wheel with an encrypted module", { artifact: async () => encryptedMember(await demoWheel(), "demo/__init__.py"), message: "Invalid wheel demo-2.0-py3-none-any.whl: demo/__init__.py is encrypted, and no installer can unpack it" }],
    // Python's zipfile refuses it on unpacking; a reader that streams local headers writes ../../etc/x.py.
    ["a wheel whose local header names a member otherwise than its central directory", { artifact: async () => locallyRenamedMember(await wheel({ name: "demo", version: "2.0", extraFiles: { "demo/abcd.py": "x = 1\n" } }), "demo/abcd.py", "../../e/x.py"), message: 'Invalid wheel demo-2.0-py3-none-any.whl: the local header of demo/abcd.py names it "../../e/x.py", so readers differ on its name and pip refuses to unpack it' }],
    ["a wheel with a module compressed by Deflate64", { artifact: async () => memberCompressedBy(await demoWheel(), "demo/__init__.py", 9), message: "Invalid wheel demo-2.0-py3-none-any.whl: demo/__init__.py is compressed by method 9, which Python's zipfile (pip, easy_install) cannot unpack: use deflate" }],
    ["an egg with an AES-encrypted module (method 99)", { artifact: async () => memberCompressedBy(await egg({ name: "demo", version: "2.0", python: "2.7" }), "demo/__init__.py", 99), message: "Invalid egg demo-2.0-py2.7.egg: demo/__init__.py is compressed by method 99, which Python's zipfile (pip, easy_install) cannot unpack: use deflate" }],
    ["a zip sdist with an encrypted setup.py", { artifact: async () => encryptedMember(await sdist({ name: "demo", version: "2.0", format: "zip" }), "demo-2.0/setup.py"), message: "Invalid sdist demo-2.0.zip: demo-2.0/setup.py is encrypted, and no installer can unpack it" }],
    ["a wheel whose end record counts one entry less than its central directory holds (the hidden one a second METADATA)", { artifact: () => miscountedZipWheel({ name: "demo", version: "2.0" }), message: "Invalid wheel demo-2.0-py3-none-any.whl: its central directory is not the size or in the place its end record says, so readers differ on which members it holds" }],
    ["a wheel whose members Unicode Path fields rename (Python 3.12 and Python 3.11 read another METADATA)", { artifact: () => unicodePathWheel({ name: "demo", version: "2.0" }), message: 'Invalid wheel demo-2.0-py3-none-any.whl: member "demo-2.0.dist-info/METADATA" is renamed "demo/honest.txt" by a Unicode Path extra field, which Python before 3.12 ignores, so readers differ on its name' }],
    ["a wheel holding METADATA again as METADATA\\0.txt (Python's zipfile cuts the name at the NUL)", { artifact: () => nulNamedWheel({ name: "demo", version: "2.0" }), message: 'Invalid wheel demo-2.0-py3-none-any.whl: member "demo-2.0.dist-info/METADATA\\u0000.txt" has a NUL in its name, where readers cut it or not' }],
    ["a wheel holding METADATA twice", { artifact: () => twoMetadataWheel({ name: "demo", version: "2.0" }), message: "Invalid wheel demo-2.0-py3-none-any.whl: it holds demo-2.0.dist-info/METADATA twice, and readers differ on which copy counts" }],
    ["an sdist holding PKG-INFO twice", { artifact: () => twoPkgInfoSdist({ name: "demo", version: "2.0" }), message: "Invalid sdist demo-2.0.tar.gz: it holds demo-2.0/PKG-INFO twice, and readers differ on which copy counts" }],
    ["an sdist whose PKG-INFO lies past its end-of-archive marker (a second tar appended: pip and GNU tar stop at the marker)", { artifact: () => appendedTarSdist({ name: "demo", version: "2.0", requiresPython: ">=9" }), message: "Invalid sdist demo-2.0.tar.gz: it holds more after its end-of-archive marker, where installers stop reading and this index would read on" }],
    ["an sdist whose global pax header gives every member size 0 (pip sees an empty PKG-INFO, tar-stream the whole one)", { artifact: async () => globalPaxSdist({ name: "demo", version: "2.0" }), message: "Invalid sdist demo-2.0.tar.gz: a global pax header sets every member's size, which readers apply differently" }],
    ["an sdist with an absolute member", { artifact: () => sdistWithEntry({ name: "demo", version: "2.0" }, { name: "/etc/cron.d/evil" }), message: 'Invalid sdist demo-2.0.tar.gz: member "/etc/cron.d/evil" is not a plain relative path' }],
    ["an sdist with a '..' member", { artifact: () => sdistWithEntry({ name: "demo", version: "2.0" }, { name: "demo-2.0/../../evil" }), message: 'Invalid sdist demo-2.0.tar.gz: member "demo-2.0/../../evil" is not a plain relative path' }],
    ["an sdist holding PKG-INFO again as demo-2.0/./PKG-INFO (unpacked over the first)", { artifact: () => sdistWithEntry({ name: "demo", version: "2.0" }, { name: "demo-2.0/./PKG-INFO", content: "Metadata-Version: 2.1\nName: demo\nVersion: 2.0\nRequires-Dist: evil\n" }), message: 'Invalid sdist demo-2.0.tar.gz: member "demo-2.0/./PKG-INFO" is not a plain relative path (absolute, or with \'..\', \'.\' or empty parts), so unpackers differ on where it goes' }],
    ["an sdist with a symlink out of the archive", { artifact: () => sdistWithEntry({ name: "demo", version: "2.0" }, { name: "demo-2.0/data", type: "symlink", linkname: "../../../home" }), message: 'Invalid sdist demo-2.0.tar.gz: demo-2.0/data links to "../../../home", outside the archive' }],
    ["an sdist with an absolute symlink", { artifact: () => sdistWithEntry({ name: "demo", version: "2.0" }, { name: "demo-2.0/passwd", type: "symlink", linkname: "/etc/passwd" }), message: 'Invalid sdist demo-2.0.tar.gz: demo-2.0/passwd links to "/etc/passwd", outside the archive' }],
    ["an sdist with a hard link to a file outside", { artifact: () => sdistWithEntry({ name: "demo", version: "2.0" }, { name: "demo-2.0/shadow", type: "link", linkname: "/etc/shadow" }), message: 'Invalid sdist demo-2.0.tar.gz: demo-2.0/shadow links to "/etc/shadow", outside the archive' }],
    ["a wheel holding METADATA again as demo-2.0.dist-info//METADATA", { artifact: () => wheel({ name: "demo", version: "2.0", extraFiles: { "demo-2.0.dist-info//METADATA": "Metadata-Version: 2.1\nName: demo\nVersion: 2.0\nRequires-Dist: evil\n" } }), message: 'Invalid wheel demo-2.0-py3-none-any.whl: member "demo-2.0.dist-info//METADATA" is not a plain relative path' }],
    ["an sdist whose PKG-INFO is a symlink to another member", { artifact: () => linkedPkgInfoSdist({ name: "demo", version: "2.0" }), message: "Invalid sdist demo-2.0.tar.gz: demo-2.0/PKG-INFO is a symlink, not a regular file" }],
    ["zip bomb outside the metadata (a 200 MiB module of zeros, which installers unpack)", { artifact: () => moduleBombWheel({ name: "demo", version: "2.0" }), message: `Invalid wheel demo-2.0-py3-none-any.whl: it unpacks to more than ${64 * MiB} bytes (archive bomb?)` }],
    ["tar bomb (200 MiB of zeros)", { artifact: () => tarBomb({ name: "demo", version: "2.0" }), message: `Invalid sdist demo-2.0.tar.gz: it unpacks to more than ${64 * MiB} bytes (archive bomb?)` }],
    // 3.7 KB of sdist: planning and the checker test it against every target and interpreter, which held the server for minutes.
    ["a Requires-Python of 900,000 clauses (3.6 MB)", { artifact: () => sdist({ name: "demo", version: "2.0", requiresPython: `${">=1,".repeat(900_000)}>=1` }), message: "Invalid PKG-INFO in demo-2.0.tar.gz: its Requires-Python is 3600003 characters long; at most 1000 are read" }],
    // the form
    ["no content part", { artifact: demoSdist, contentFilename: null, message: "Missing file: the upload has no 'content' part" }],
    ["a second content part (the first staged whole, gone before the answer)", { artifact: demoSdist, extraFiles: [{ field: "content", filename: "demo-2.0.tar.gz", bytes: randomBytes(64 * 1024) }], message: "Malformed upload: at most 1 file(s) in 'content'" }],
    ["a file under another field than content and gpg_signature", { artifact: demoSdist, extraFiles: [{ field: "attachment", filename: "x.bin", bytes: randomBytes(1024) }], message: "Malformed upload: unexpected file field 'attachment'" }],
    ["no name field", { artifact: demoSdist, fields: { name: null }, message: "Missing form field 'name'" }],
    ["no version field", { artifact: demoSdist, fields: { version: null }, message: "Missing form field 'version'" }],
    ["no filetype field", { artifact: demoSdist, fields: { filetype: null }, message: "Missing form field 'filetype'" }],
    ["filetype bdist_wheel for a .tar.gz", { artifact: demoSdist, fields: { filetype: "bdist_wheel" }, message: "Filetype mismatch: filetype bdist_wheel does not match demo-2.0.tar.gz" }],
    ["filetype sdist for a .whl", { artifact: demoWheel, fields: { filetype: "sdist" }, message: "Filetype mismatch: filetype sdist does not match demo-2.0-py3-none-any.whl" }],
    ["retired filetype bdist_wininst", { artifact: demoSdist, fields: { filetype: "bdist_wininst" }, message: "Unsupported filetype bdist_wininst: use sdist, bdist_wheel or bdist_egg" }],
    [":action=submit (setup.py register)", { artifact: demoSdist, fields: { ":action": "submit" }, message: 'Unsupported :action "submit": this index only accepts file_upload' }],
    ["protocol_version=2", { artifact: demoSdist, fields: { protocol_version: "2" }, message: "Unsupported protocol_version 2: use 1" }],
    // who
    ["unauthenticated", { artifact: demoSdist, as: "anonymous", status: 401, message: "Uploading needs credentials: use __token__ and an API token" }],
    ["unauthorised (no role on the project)", { artifact: demoSdist, as: "bob", status: 403, message: "User bob may not upload to project demo: ask a project admin for the upload role" }],
  ];

  test.each(cases)("%s", async (_title, bad) => {
    const artifact = await bad.artifact();
    const who = bad.as ?? "alice";
    const options: UploadOptions = { auth: who === "anonymous" ? undefined : tokenAuth(tokens[who]), fields: bad.fields, extraFields: bad.extraFields, extraFiles: bad.extraFiles, contentFilename: bad.contentFilename };
    await expectRefused(server, () => upload(server, artifact, options), bad.status ?? 400, bad.message);
  });

  test("twine prints why a version past 2^53 is refused", async () => {
    const folder = await mkdtemp(path.join(os.tmpdir(), "pydepot-twine-"));
    try {
      const artifact = await sdist({ name: "demo", version: "1.99999999999999999999" });
      const file = path.join(folder, artifact.filename);
      await writeFile(file, artifact.bytes);
      const result = await twineUpload(server.uploadUrl, [file], { username: "__token__", password: tokens.alice });
      expect(result.code).not.toBe(0);
      expect(result.stdout).toContain('Invalid version "1.99999999999999999999": its number 99999999999999999999 is larger than 9007199254740991');
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  });

  test("unauthenticated answers carry WWW-Authenticate: Basic", async () => {
    const answer = await upload(server, await demoSdist());
    expect(answer.headers.get("www-authenticate")).toMatch(/^Basic\b/);
  });

  test("a body that is not multipart/form-data", async () => {
    const send = async () => {
      const response = await fetch(server.uploadUrl, {
        method: "POST",
        headers: { Authorization: tokenAuth(tokens.alice), "Content-Type": "application/x-www-form-urlencoded" },
        body: ":action=file_upload&protocol_version=1&name=demo&version=2.0&filetype=sdist",
      });
      return { status: response.status, statusText: response.statusText, body: await response.text() };
    };
    await expectRefused(server, send, 400, "Malformed upload: the body must be multipart/form-data");
  });

  test("concurrent uploads of one filename with different bytes: exactly one wins, the rest are told the file exists", async () => {
    const contenders = await Promise.all(
      Array.from({ length: 10 }, (_, index) => wheel({ name: "racy", version: "1.0", extraFiles: { "racy/contender.py": `N = ${index}\n` } })),
    );
    expect(new Set(contenders.map((contender) => contender.filename)).size).toBe(1);
    expect(new Set(contenders.map((contender) => contender.bytes.toString("hex"))).size).toBe(10);
    const answers = await Promise.all(contenders.map((contender) => upload(server, contender, { auth: tokenAuth(tokens.alice) })));

    const winners = answers.flatMap((answer, index) => (answer.status === 200 ? [index] : []));
    expect(winners).toHaveLength(1);
    for (const answer of answers.filter((candidate) => candidate.status !== 200)) {
      expect(answer.status).toBe(400);
      expect(answer.statusText).toMatch(/^File already exists/);
    }
    const rows = snapshot(server.services.db, server.storage).rows.files as { filename: string }[];
    expect(rows.filter((row) => row.filename === contenders[0].filename)).toHaveLength(1);
    expect(readdirSync(path.join(server.storage, "files", "racy")).sort()).toEqual([contenders[0].filename, `${contenders[0].filename}.metadata`]);
    expect(readdirSync(path.join(server.storage, "tmp"))).toEqual([]);
    const served = await get(`${server.url}/files/racy/${contenders[0].filename}`);
    expect(served.bytes.equals(contenders[winners[0]].bytes)).toBe(true);
  });
});

describe("size limit (uploads.max_bytes = 1 MiB)", () => {
  let server: TestServer;
  let token: string;

  beforeAll(async () => {
    server = await startTestServer({ uploads: { max_bytes: MiB } });
    token = await server.userToken("alice");
  });

  afterAll(() => server?.stop());

  test("a 2 MiB file → 413, refused while streaming", async () => {
    const big = await wheel({ name: "big", version: "1.0", extraFiles: { "big/blob.bin": randomBytes(2 * MiB) } /* incompressible */ });
    expect(big.bytes.length).toBeGreaterThan(2 * MiB);
    await expectRefused(server, () => upload(server, big, { auth: tokenAuth(token) }), 413, `File too large: the limit is ${MiB} bytes`);
  });

  test("a declared Content-Length far above the limit → 413 before the body is read", async () => {
    const send = () =>
      rawRequest(server.uploadUrl, {
        method: "POST",
        headers: {
          Authorization: tokenAuth(token),
          "Content-Type": "multipart/form-data; boundary=xyz",
          "Content-Length": String(1024 * MiB),
        },
      });
    await expectRefused(server, send, 413, `File too large: the limit is ${MiB} bytes`);
  });
});
