// Real packages, end to end: the installed code of six, python-dateutil, attrs, PyYAML, msgpack,
// psycopg2 and Pillow from Debian's binary packages (real compiled modules linking libyaml,
// libpq, libjpeg …, real metadata), repackaged into the wheels upstream publishes
// (test/support/debian-wheel.py), and the wheels the real Pythons bundle (pip, setuptools, wheel).
// Uploaded with Debian's twine, checked by the real checker on a real sshd node with Python 2.7
// and 3.11, installed with pip from /simple/ and used there.
import { readdirSync } from "node:fs";
import { basename } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { makeEnvironment, pipInstall, twineUpload, type PythonEnvironment } from "../support/clients.js";
import { expectOk } from "../support/commands.js";
import { listed, nodeSettings, startCheckerServer, uploaderToken, waitForMatrix, type CheckerServer } from "../support/checker.js";
import { debianWheel } from "../support/debian.js";
import { buildWith } from "../support/packages.js";
import { findPython } from "../support/pythons.js";
import { startSshd, type SshdNode } from "../support/sshd.js";

/** Real checks of about twenty files on a busy 2-core machine. */
const TIMEOUT_MS = 420_000;
const CP311 = "cp311-cp311-linux_x86_64";
const PYTHON_WHEELS_DIR = "/usr/share/python-wheels";

let node: SshdNode;
let server: CheckerServer;
let token: string;
const wheels: Record<string, string> = {};
const environments: PythonEnvironment[] = [];

/**
 * Upstream's Pillow wheel as auditwheel leaves it: the libraries Debian's build links and this
 * node lacks, renamed into Pillow.libs/ (the extensions' RUNPATH), with libwebp, which
 * libwebpmux and libwebpdemux need beside them; and no top_level.txt, as wheels from hatchling,
 * flit, maturin or meson-python come.
 */
const PILLOW_LIBS = [
  { pkg: "libwebp7", soname: "libwebp.so.7" },
  { pkg: "libimagequant0", soname: "libimagequant.so.0" },
  { pkg: "libraqm0", soname: "libraqm.so.0" },
  { pkg: "libwebpmux3", soname: "libwebpmux.so.3" },
  { pkg: "libwebpdemux2", soname: "libwebpdemux.so.2" },
];

/** The wheels each Python bundles for ensurepip, and Debian's wheel wheel. */
function bundledWheels(): string[] {
  const bundled = (version: string, name: string) => {
    const folder = `${findPython(version).replace(/\/bin\/[^/]+$/, "")}/lib/python${version}/ensurepip/_bundled`;
    return `${folder}/${readdirMatch(folder, new RegExp(`^${name}-.*\\.whl$`))}`;
  };
  return [bundled("2.7", "pip"), bundled("2.7", "setuptools"), bundled("3.11", "pip"), bundled("3.11", "setuptools"), `${PYTHON_WHEELS_DIR}/${readdirMatch(PYTHON_WHEELS_DIR, /^wheel-.*\.whl$/)}`];
}

function readdirMatch(folder: string, pattern: RegExp): string {
  const names = readdirSync(folder).filter((name) => pattern.test(name));
  if (names.length !== 1) throw new Error(`expected one ${pattern} in ${folder}, found ${JSON.stringify(names)}`);
  return names[0];
}

async function upload(...paths: string[]): Promise<void> {
  expectOk(await twineUpload(`${server.url}/legacy/`, paths, { username: "__token__", password: token }));
}

beforeAll(async () => {
  const built = {
    six: debianWheel("python3-six", { tag: "py2.py3-none-any" }),
    // Debian empties requires.txt (its dependencies are Debian packages): upstream's is six>=1.5.
    dateutil: debianWheel("python3-dateutil", { tag: "py2.py3-none-any", requires: ["six>=1.5"] }),
    attrs: debianWheel("python3-attr", { tag: "py3-none-any", withoutTopLevel: true }),
    yaml: debianWheel("python3-yaml", { tag: CP311 }),
    msgpack: debianWheel("python3-msgpack", { tag: CP311 }),
    psycopg2: debianWheel("python3-psycopg2", { tag: CP311 }),
    pillow: debianWheel("python3-pil", { tag: CP311, libraries: PILLOW_LIBS, withoutTopLevel: true }),
    // setuptools' own namespace_packages output, as zope.*, backports.* and sphinxcontrib-* wheels had it.
    nspkg: buildWith("wheel", "nspkg", {}),
  };
  node = await startSshd();
  server = await startCheckerServer({ nodes: [nodeSettings(node, { parallel: 2 })] });
  token = await uploaderToken(server, "uploader");
  for (const [key, path] of Object.entries(built)) wheels[key] = await path;
  // six comes later, in its test: first python-dateutil finds no file of it.
  await upload(...Object.entries(wheels).filter(([key]) => key !== "six").map(([, path]) => path), ...bundledWheels());
}, TIMEOUT_MS);

afterAll(async () => {
  await Promise.all(environments.map((environment) => environment.cleanup()));
  await server?.stop();
  await node?.dispose();
});

async function environment(version: string): Promise<PythonEnvironment> {
  const made = await makeEnvironment(version);
  environments.push(made);
  return made;
}

/** Each interpreter's verdict, reason and the modules its check imported. */
async function verdicts(path: string, interpreters: number) {
  const { byPython } = await waitForMatrix(server, basename(path), interpreters, TIMEOUT_MS);
  return Object.fromEntries(Object.entries(byPython).map(([python, entry]) => [python, [entry.verdict, entry.reason, entry.check?.modules.map((module) => module.name)]]));
}

describe("real packages through twine, the checker and pip", { timeout: TIMEOUT_MS }, () => {
  test("twine uploads them; the index names each project as PEP 503 normalises it, with Requires-Python and the wheel's own METADATA", async () => {
    const page = await fetch(`${server.url}/staging/simple/python-dateutil/`, { headers: { Accept: "application/vnd.pypi.simple.v1+json" } });
    const { name, files } = (await page.json()) as { name: string; files: { filename: string; url: string; "requires-python": string; "core-metadata"?: unknown }[] };
    expect(name).toBe("python-dateutil");
    expect(files.map((file) => [file.filename, file["requires-python"], Boolean(file["core-metadata"])])).toEqual([
      ["python_dateutil-2.8.2-py2.py3-none-any.whl", "!=3.0.*,!=3.1.*,!=3.2.*,>=2.7", true],
    ]);
    const metadata = await (await fetch(new URL(`${files[0].url.split("#")[0]}.metadata`, page.url))).text();
    expect(metadata).toContain("\nRequires-Dist: six>=1.5\n");
    for (const [project, filename] of [["pyyaml", "PyYAML-6.0-cp311-cp311-linux_x86_64.whl"], ["pillow", "Pillow-9.4.0-cp311-cp311-linux_x86_64.whl"]]) {
      const response = await fetch(`${server.url}/staging/simple/${project}/`, { headers: { Accept: "text/html" } });
      expect(await response.text()).toContain(`>${filename}</a>`);
    }
  });

  test("compiled wheels are verified on Python 3.11, each extension module imported; Pillow.libs (auditwheel's libraries) is no package, and its libraries find each other", async () => {
    expect(await verdicts(wheels.yaml, 1)).toEqual({ "3.11": ["verified", "installed and imported 3 modules", ["_yaml", "yaml", "yaml._yaml"]] });
    expect(await verdicts(wheels.msgpack, 1)).toEqual({ "3.11": ["verified", "installed and imported 2 modules", ["msgpack", "msgpack._cmsgpack"]] });
    expect(await verdicts(wheels.psycopg2, 1)).toEqual({ "3.11": ["verified", "installed and imported 2 modules", ["psycopg2", "psycopg2._psycopg"]] });
    const extensions = ["_imaging", "_imagingcms", "_imagingft", "_imagingmath", "_imagingmorph", "_webp"].map((name) => `PIL.${name}`);
    expect(await verdicts(wheels.pillow, 1)).toEqual({ "3.11": ["verified", "installed and imported 7 modules", ["PIL", ...extensions]] });
    // Without top_level.txt too, attr and attrs are what the wheel holds.
    expect(await verdicts(wheels.attrs, 1)).toEqual({ "3.11": ["verified", "installed and imported 2 modules", ["attr", "attrs"]] });
  });

  test("python-dateutil is unresolvable on 2.7 and 3.11 until six arrives, then verified on both and listed", async () => {
    const missing = (python: string) => ["unresolvable", `dependency six>=1.5 has no file on the index that Python ${python} installs`, []];
    expect(await verdicts(wheels.dateutil, 2)).toEqual({ "2.7": missing("2.7"), "3.11": missing("3.11") });
    expect(await listed(server.index, "python-dateutil")).toEqual([]);
    await upload(wheels.six);
    expect(await verdicts(wheels.six, 2)).toEqual({ "2.7": ["verified", "installed and imported 1 modules", ["six"]], "3.11": ["verified", "installed and imported 1 modules", ["six"]] });
    const verified = ["verified", "installed and imported 1 modules", ["dateutil"]];
    await expect.poll(() => verdicts(wheels.dateutil, 2), { timeout: TIMEOUT_MS, interval: 500 }).toEqual({ "2.7": verified, "3.11": verified });
    expect(await listed(server.index, "python-dateutil")).toEqual(["python_dateutil-2.8.2-py2.py3-none-any.whl"]);
  });

  test("pip 3.11 installs all of them from /simple/ and their compiled code works; pip 19.2 on Python 2.7 installs python-dateutil with six", async () => {
    for (const project of ["python-dateutil", "six", "attrs", "pyyaml", "msgpack", "psycopg2", "pillow"]) {
      await expect.poll(() => listed(server.index, project), { timeout: TIMEOUT_MS, interval: 500 }).toHaveLength(1);
    }
    const python3 = await environment("3.11");
    expectOk(await pipInstall(python3, server.index, ["--only-binary", ":all:", "python_dateutil", "attrs", "PyYAML", "msgpack", "psycopg2", "Pillow"]));
    const use = [
      "import attr, dateutil.parser, msgpack, psycopg2.extensions, yaml",
      "from PIL import features, Image",
      "assert yaml.__with_libyaml__ and yaml.load('a: [1, 2]', Loader=yaml.CSafeLoader) == {'a': [1, 2]}",
      "assert msgpack.Packer.__module__ == 'msgpack._cmsgpack' and msgpack.unpackb(msgpack.packb([1, 'x'])) == [1, 'x']",
      "assert psycopg2.extensions.libpq_version() >= 100000",
      "assert features.check('jpg') and features.check('webp') and Image.new('RGB', (2, 2)).size == (2, 2)",
      "print(dateutil.parser.parse('2020-01-02').year, attr.__version__)",
    ].join("\n");
    expect(expectOk(await python3.run(use)).stdout).toBe("2020 22.2.0\n");

    const python2 = await environment("2.7");
    const install = expectOk(await pipInstall(python2, server.index, ["python-dateutil"]));
    expect(install.stdout).toContain("Successfully installed python-dateutil-2.8.2 six-1.16.0");
    expect(expectOk(await python2.run("import dateutil.parser; print(dateutil.parser.parse('2020-01-02').month)")).stdout).toBe("1\n");
  });

  test("a wheel with setuptools' -nspkg.pth is verified on 2.7 (its import lines read site's `sitedir`) and 3.11; pip 2.7 installs it from /simple/", async () => {
    const verified = ["verified", "installed and imported 1 modules", ["pydepot_ns"]];
    expect(basename(wheels.nspkg)).toBe("nspkg-1.0-py2.py3-none-any.whl");
    expect(await verdicts(wheels.nspkg, 2)).toEqual({ "2.7": verified, "3.11": verified });
    const python2 = await environment("2.7");
    expectOk(await pipInstall(python2, server.index, ["nspkg"]));
    // pip --target leaves the .pth where only site-packages would read it: read it as site does.
    expect(expectOk(await python2.run("import site, sys; site.addsitedir(sys.argv[1]); from pydepot_ns.member import GREETING; print(GREETING)", [python2.installDir])).stdout).toBe(
      "hello from a namespace package\n",
    );
  });

  test("the wheels the Pythons bundle (pip and setuptools of 2.7 and 3.11, Debian's wheel) are verified on every Python they fit", async () => {
    const [pip2, setuptools2, pip3, setuptools3, wheel] = bundledWheels();
    const both = (reason: string, modules: string[]) => ({ "2.7": ["verified", reason, modules], "3.11": ["verified", reason, modules] });
    expect(await verdicts(pip2, 2)).toEqual(both("installed and imported 1 modules", ["pip"]));
    expect(await verdicts(setuptools2, 2)).toEqual(both("installed and imported 3 modules", ["easy_install", "pkg_resources", "setuptools"]));
    expect(await verdicts(pip3, 1)).toEqual({ "3.11": ["verified", "installed and imported 1 modules", ["pip"]] });
    expect(await verdicts(setuptools3, 1)).toEqual({ "3.11": ["verified", "installed and imported 3 modules", ["_distutils_hack", "pkg_resources", "setuptools"]] });
    expect(await verdicts(wheel, 1)).toEqual({ "3.11": ["verified", "installed and imported 1 modules", ["wheel"]] });
  });
});
