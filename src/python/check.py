# Proves that one egg or wheel installs and imports in a clean environment on this node.
# Sent to the node as data, after fingerprint.py, and run by the interpreter under test with
# -S -E -s -B (nothing of site, the environment or the interpreter's start-up files runs before
# it); reads ONE JSON request on stdin and prints ONE JSON result as the last line of stdout.
# Standard library only, and the same source runs on Python 2.7 and 3.6 to 3.13 (no f-strings,
# no annotations).
#
# Nothing from the request reaches a shell: every child gets an argv list, module names are
# validated, and the import command receives the name as an argument, not as code.
#
# A pass is proven, never inferred from an exit status: the import child gets a fresh random
# value on its stdin, reads it and puts /dev/null in its place before importing, and writes it
# back on a pipe of its own only after the import returned; the installed files are compared
# with the artifact's own bytes. The interpreter's start-up files are measured before and after
# (startup_fingerprint, and file_sha256, come from fingerprint.py, which runs first in the same
# namespace) so the server can tell whether this check changed the node.
import base64
import binascii
import csv
import errno
import fcntl
import hashlib
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
import time
import zipfile

try:
    from urllib.request import ProxyHandler, Request, build_opener
    from urllib.parse import unquote, urlsplit, urlunsplit
except ImportError:  # Python 2.7
    from urllib2 import ProxyHandler, Request, build_opener
    from urllib import unquote
    from urlparse import urlsplit, urlunsplit

# `python -c SOURCE` and `python -` put the current folder first on sys.path.
if sys.path and sys.path[0] in ("", os.getcwd()):
    del sys.path[0]

PYTHON_2 = sys.version_info[0] == 2
MODULE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
FILENAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+!-]*\.(whl|egg)$")  # "!": a version epoch
SHA256 = re.compile(r"^[0-9a-f]{64}$")
CREDENTIAL = re.compile(r"^pydepot-check-[A-Za-z0-9_-]+\Z")
HOST = re.compile(r"^[A-Za-z0-9.:\[\]_-]+$")
NOT_FOUND = re.compile(r"^\s*(\S+) => not found\s*$")
# An extension module by its name (PEP 3149 tags, abi3), whatever its bytes: a damaged one must
# be imported and fail, not be taken for a plain library.
EXTENSION_SUFFIX = re.compile(r"\.(cpython-[^.]+|abi3|pypy[^.]*|cp\d+-[^.]+)\.(so|pyd)$")
CHECK_FOLDER_PREFIX = "pydepot-check-"
DEFAULT_TIMEOUT = 300.0
# One hung import must not use up the whole check, and one chatty child not the memory.
IMPORT_TIMEOUT = 60.0
OUTPUT_LIMIT = 1024 * 1024
# The answer's JSON line at most, well within the 16 MiB the server reads of a check's output
# (services/checks.ts): more is taken for code writing into this process's output.
ANSWER_LIMIT = 8 * 1024 * 1024
# What each child (pip, the imports, the smoke check, ldd) and everything it starts may use, so one
# hostile package cannot take the node down for the checks after it: a fork bomb meets the process
# limit (per login: its forks fail, it ends, the check's own process is not limited), a runaway
# write or allocation its own failure, and no crash leaves a core file. Root is not held to the
# process limit, one more reason to refuse a root login.
GIB = 1024 * 1024 * 1024
CHILD_LIMITS = (("RLIMIT_NPROC", 512), ("RLIMIT_FSIZE", 4 * GIB), ("RLIMIT_DATA", 8 * GIB), ("RLIMIT_CORE", 0))
PR_SET_CHILD_SUBREAPER = 36  # <linux/prctl.h>
PR_SET_DUMPABLE = 4

# The proof of a finished import (see the top): the value comes on stdin, which the imported code
# then finds empty, and goes back on the pipe whose number is the last argument. A failed import
# (or smoke check) raises before the write, whatever an atexit handler or os._exit does with the
# status later.
PROOF_LINES = [
    "def prove(run, argument, result):",
    "    nonce = os.read(0, 64)",
    "    nothing = os.open(os.devnull, os.O_RDONLY)",
    "    os.dup2(nothing, 0)",
    "    os.close(nothing)",
    "    run(argument)",
    "    os.write(result, nonce)",
    "    os.close(result)",
    # The project's smoke check: an admin's code (never the artifact's), run as a script would be.
    "def smoke(code):",
    "    exec(compile(code, '<smoke check>', 'exec'), {'__name__': '__main__'})",
]
# The import, with the module name as an argument: nothing from the artifact is ever code.
# sys.argv: [-c, module, result fd].
IMPORT_SOURCE = "\n".join(["import os, sys"] + PROOF_LINES + ["prove(__import__, sys.argv[1], int(sys.argv[2]))"])
# The smoke check, proven the same way. sys.argv: [-c, code, result fd].
SMOKE_SOURCE = "\n".join(["import os, sys"] + PROOF_LINES + ["prove(smoke, sys.argv[1], int(sys.argv[2]))"])
# Python 2.7 has no venv: the interpreter runs with -S (no site-packages of the node) and this
# adds the check's folder the way site.addsitedir would, .pth files included (easy_install's
# easy-install.pth, namespace packages). sys.argv: [-c, folder, module, result fd].
# Each .pth file is read by a function like site.addpackage, whose local `sitedir` the import
# lines of setuptools' `-nspkg.pth` files read (sys._getframe(1).f_locals['sitedir']).
ISOLATED_SITE_LINES = [
    "import os, sys",
    "def addpackage(sitedir, name):",
    "    for line in open(os.path.join(sitedir, name)):",
    "        if line.startswith('#'): continue",
    "        if line.startswith(('import ', 'import\\t')):",
    "            exec(line)",
    "            continue",
    "        entry = os.path.join(sitedir, line.rstrip())",
    "        if line.strip() and entry not in sys.path and os.path.exists(entry): sys.path.append(entry)",
    "folder = sys.argv[1]",
    "sys.path.append(folder)",
    "for name in sorted(os.listdir(folder)):",
    "    if name.endswith('.pth'): addpackage(folder, name)",
]
ISOLATED_IMPORT_SOURCE = "\n".join(PROOF_LINES + ISOLATED_SITE_LINES + ["prove(__import__, sys.argv[2], int(sys.argv[3]))"])
# sys.argv: [-c, folder, code, result fd].
ISOLATED_SMOKE_SOURCE = "\n".join(PROOF_LINES + ISOLATED_SITE_LINES + ["prove(smoke, sys.argv[2], int(sys.argv[3]))"])
PURELIB_SOURCE = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
# The log names this long argument instead of repeating it for every module.
LOG_NAMES = {ISOLATED_IMPORT_SOURCE: "\"$ISOLATED_IMPORT\"", IMPORT_SOURCE: "\"$PROVEN_IMPORT\"",
             ISOLATED_SMOKE_SOURCE: "\"$ISOLATED_SMOKE\"", SMOKE_SOURCE: "\"$PROVEN_SMOKE\""}
# What pip and easy_install say when a requirement has no file this interpreter installs.
UNRESOLVABLE = [re.compile(r"No matching distribution found for (\S+)"),
                re.compile(r"Could not find suitable distribution for Requirement\.parse\('([^']+)'")]
# `python setup.py easy_install ...` without a setup.py: `python -m easy_install` needs the
# easy_install.py that setuptools dropped in version 52, and its main() went later still.
# Dependencies come from eggs and wheels only, as pip's --only-binary for wheels: a clean node
# compiles nothing, and easy_install would build an sdist whose Requires-Python excludes this
# interpreter (it ignores Requires-Python), so an egg was verified with a dependency for another Python.
EASY_INSTALL_SOURCE = (
    "import pkg_resources, setuptools.package_index as index\n"
    "add = index.PackageIndex.add\n"
    "index.PackageIndex.add = lambda self, dist: None if dist.precedence == pkg_resources.SOURCE_DIST else add(self, dist)\n"
    "from setuptools import setup; setup()"
)


class Refused(Exception):
    """The check cannot judge the artifact (bad request, download, environment): verdict error."""


class Interrupted(Exception):
    pass


class Check(object):
    def __init__(self, request):
        self.request = request
        self.started = time.time()
        self.deadline = self.started + request["timeout"]
        self.log_lines = []
        self.child = None
        self.folder = None
        # In the environment of every child, so that sweep() finds what left its session.
        self.marker = binascii.hexlify(os.urandom(16)).decode("ascii")
        self.limits = child_limits()

    # -- logging and processes ---------------------------------------------------------------

    def log(self, text):
        self.log_lines.append(text.rstrip("\n"))

    def remaining(self):
        return self.deadline - time.time()

    def run(self, argv, env, limit=None):
        """Runs argv in a session of its own, output (stderr interleaved) to a file so a chatty
        child cannot block on a full pipe. Returns (returncode, timed_out, output)."""
        returncode, timed_out, text, _ = self.run_child(argv, env, limit, False)
        return returncode, timed_out, text

    def run_proving(self, argv, env, limit=None):
        """run() for a child that proves it finished (PROOF_LINES): a fresh random value on its
        stdin, the number of the pipe to write it back on as its last argument. Returns
        (returncode, timed_out, output, proven)."""
        return self.run_child(argv, env, limit, True)

    def run_child(self, argv, env, limit, proving):
        limit = self.remaining() if limit is None else min(limit, self.remaining())
        self.log("$ " + " ".join(LOG_NAMES.get(part) or shell_display(part) for part in argv))
        output_path = os.path.join(self.folder, "output.txt")
        began = time.time()
        if limit <= 0:
            self.log("[not started: the check's time limit is used up]")
            return -signal.SIGKILL, True, "", False
        nonce = binascii.hexlify(os.urandom(32)) if proving else None
        channel = ProofChannel(nonce) if proving else None
        try:
            with open(output_path, "wb") as output, open(os.devnull, "rb") as nothing:
                options = dict(stdout=output, stderr=subprocess.STDOUT, env=dict(env, PYDEPOT_CHECK=self.marker),
                               cwd=os.path.join(self.folder, "run"), preexec_fn=self.start_child)
                if proving:
                    options.update(channel.popen_options())
                    self.child = subprocess.Popen(argv + [str(channel.result_write)], stdin=channel.nonce_read, **options)
                else:
                    self.child = subprocess.Popen(argv, stdin=nothing, close_fds=True, **options)
                if channel is not None:
                    channel.child_started()
                timed_out = wait_until(self.child, began + limit)
                if timed_out:
                    self.kill_child()
                returncode = self.child.wait()
                # Whatever the child left running in its session (a daemon thread's subprocess) goes too.
                self.kill_group(self.child.pid)
                self.child = None
            proven = channel is not None and channel.answer() == nonce
        finally:
            if channel is not None:
                channel.close()
        text = read_limited(output_path)
        if text.strip():
            self.log(text)
        note = " (killed after %.0f s)" % limit if timed_out else ""
        proof = ""
        if proving:
            proof = ", finished import proven" if proven else ", no proof that the import finished"
        self.log("[%s in %.2f s%s%s]" % (describe_status(returncode), time.time() - began, note, proof))
        return returncode, timed_out, text, proven

    def start_child(self):
        """In the child, before it runs: a session of its own and the limits."""
        os.setsid()
        for _, number, value in self.limits:
            resource.setrlimit(number, (value, value))

    def kill_child(self):
        if self.child is not None and self.child.poll() is None:
            self.kill_group(self.child.pid)

    def sweep(self):
        """Kills what the check started and that left its session (setsid and a double fork).
        On a login that runs nothing but this check (the node's exclusive_login), that is every
        process of the login but this one and its ancestors, found with POSIX ps: on any system,
        whatever the process did to its environment. Otherwise, on Linux, every process below this
        one (an orphan comes to this process, see become_subreaper, so a daemon that emptied its
        environment is still found) and those carrying this check's marker in their environment;
        elsewhere the sessions are all this check ends. Stopped first, so none can fork a new one
        meanwhile."""
        if self.exclusive():
            killed = stop_and_kill(other_login_processes)
        else:
            marker = ("PYDEPOT_CHECK=" + self.marker).encode("ascii")
            killed = stop_and_kill(lambda: set(descendants()) | set(marked_processes(marker)))
        if killed:
            self.log("[killed %d process(es) the check left running outside its sessions]" % killed)

    def clear_leftovers(self):
        """On an exclusive login, what an earlier check left when it could not end (the connection
        lost, the node rebooted mid-check): its processes and its folder."""
        if not self.exclusive():
            return
        killed = stop_and_kill(other_login_processes)
        top = tempfile.gettempdir()
        folders = [os.path.join(top, name) for name in os.listdir(top) if name.startswith(CHECK_FOLDER_PREFIX)]
        folders = [folder for folder in folders if os.lstat(folder).st_uid == os.getuid()]
        for folder in folders:
            shutil.rmtree(folder, ignore_errors=True)
        if killed or folders:
            self.log("[removed what an earlier check left: %d process(es), %d folder(s)]" % (killed, len(folders)))

    def exclusive(self):
        # Never as root: every process of root is the whole node.
        return self.request["exclusive_login"] and os.getuid() != 0

    @staticmethod
    def kill_group(group):
        try:
            os.killpg(group, signal.SIGKILL)
        except OSError:
            pass  # nothing left in it

    # -- the steps ---------------------------------------------------------------------------

    def execute(self):
        self.clear_leftovers()
        self.folder = tempfile.mkdtemp(prefix=CHECK_FOLDER_PREFIX)
        for name in ("download", "run", "home", "egg-cache", "scan"):
            os.mkdir(os.path.join(self.folder, name))
        self.hand_over_credential(os.path.join(self.folder, "home"))
        self.log("check of %s on Python %s (%s) in %s" % (
            self.request["filename"], sys.version.split()[0], sys.executable, self.folder))
        self.log("limits of each child: " + ", ".join("%s %d" % (name, value) for name, _, value in self.limits))
        artifact = self.download()
        # Whether the file is degraded is the server's rule (src/core/compiled.ts), decided at
        # ingest: the report carries that decision rather than a second opinion.
        degraded = self.request.get("degraded_reason") or ""
        result = {"native_modules": [], "degraded": bool(degraded), "modules": [], "missing_libraries": []}
        if degraded:
            self.log("degraded: %s" % degraded)
        environment = self.make_environment()
        failure = self.install(environment, artifact)
        if failure is not None:
            result.update(verdict=failure[0], reason=failure[1], missing_requirement=failure[2])
            return result
        contents = installed_modules(installed_distribution(environment["site"], artifact, self.request["kind"]), self.log)
        result["native_modules"] = contents["native"]
        for name in contents["imports"]:
            # A compiled test module is imported, but it is not part of the compiled code the
            # build is judged by (src/core/compiled.ts has the same rule for degraded builds).
            counted = name not in contents["native"] or not is_test_module(name)
            result["modules"].append(dict(self.import_module(environment, name), counted=counted))
        if self.request["smoke"] is not None:
            result["smoke"] = self.smoke_check(environment, self.request["smoke"])
        result["missing_libraries"] = self.missing_libraries(environment["site"])
        result.update(judge(result["modules"], result["missing_libraries"], result.get("smoke")))
        return result

    def hand_over_credential(self, home):
        """The check's read credential, where pip (~/.netrc) and easy_install (~/.pypirc) look for
        one: in no process's arguments or environment, and never in the log. Valid while the check
        runs, for every URL of the server."""
        parts = urlsplit(self.request["index_url"])
        server = "%s://%s/" % (parts.scheme, parts.netloc.split("@")[-1])
        files = {
            ".netrc": "machine %s\nlogin __token__\npassword %s\n" % (parts.hostname, self.request["credential"]),
            ".pypirc": "[distutils]\nindex-servers = pydepot\n\n[pydepot]\nrepository = %s\nusername = __token__\npassword = %s\n"
                       % (server, self.request["credential"]),
        }
        for name, text in files.items():
            descriptor = os.open(os.path.join(home, name), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w") as target:
                target.write(text)

    def download(self):
        url, authorization = split_credentials(self.request["artifact_url"])
        path = os.path.join(self.folder, "download", self.request["filename"])
        self.log("downloading %s" % url)
        if authorization is None:
            authorization = basic_authorization("__token__", self.request["credential"])
        headers = {"User-Agent": "pydepot-check", "Authorization": authorization}
        # No proxy: the artifact comes from pydepot, never through another host.
        opener = build_opener(ProxyHandler({}))
        digest = hashlib.sha256()
        try:
            response = opener.open(Request(url, headers=headers), timeout=max(1.0, self.remaining()))
            with open(path, "wb") as target:
                while True:
                    block = response.read(1024 * 1024)
                    if not block:
                        break
                    digest.update(block)
                    target.write(block)
        except Exception as error:
            raise Refused("cannot download %s: %s" % (url, error))
        if digest.hexdigest() != self.request["sha256"]:
            raise Refused("sha256 mismatch for %s: expected %s, downloaded %s"
                          % (url, self.request["sha256"], digest.hexdigest()))
        self.log("downloaded %d bytes, sha256 %s" % (os.path.getsize(path), digest.hexdigest()))
        return path

    def make_environment(self):
        """{python: argv prefix that imports, site: the folder installs go to, env}. Holds what
        `python -m venv` would (setuptools where this Python bundles it), minus pip: the node's
        own pip installs with --target, which saves seconds per check."""
        env = clean_environment(self.folder)
        if PYTHON_2:
            site = os.path.join(self.folder, "site")
            os.mkdir(site)
            python = [sys.executable, "-s", "-S", "-c", ISOLATED_IMPORT_SOURCE, site]
            smoke = [sys.executable, "-s", "-S", "-c", ISOLATED_SMOKE_SOURCE, site]
            self.log("imports run with -S, the check's folder added as its only site dir:\n"
                     "ISOLATED_IMPORT=" + shell_display(ISOLATED_IMPORT_SOURCE))
        else:
            venv = os.path.join(self.folder, "venv")
            code, _, _ = self.run([sys.executable, "-m", "venv", "--without-pip", venv], env, 120)
            if code != 0:
                raise Refused("cannot create a venv with %s -m venv" % sys.executable)
            interpreter = os.path.join(venv, "bin", "python")
            code, _, text = self.run([interpreter, "-s", "-c", PURELIB_SOURCE], env, 60)
            if code != 0:
                raise Refused("the new venv's interpreter does not start")
            site = text.strip().splitlines()[-1]
            python = [interpreter, "-s", "-c", IMPORT_SOURCE]
            smoke = [interpreter, "-s", "-c", SMOKE_SOURCE]
        bundled = bundled_setuptools()
        has_easy_install = False
        if bundled is not None:
            archive = zipfile.ZipFile(bundled)
            archive.extractall(site)
            has_easy_install = "setuptools/command/easy_install.py" in archive.namelist()
            self.log("setuptools from %s unpacked into %s" % (bundled, site))
        return {"python": python, "smoke": smoke, "site": site, "env": env, "has_easy_install": has_easy_install}

    def install(self, environment, artifact):
        """None when the artifact and its dependencies installed, else (verdict, reason, requirement):
        failed, or unresolvable when a dependency (the requirement) has no file on the index this
        interpreter installs."""
        index = self.request["index_url"]
        env = dict(environment["env"])
        if self.request["kind"] == "wheel":
            if not pip_installed():
                raise Refused("Python %s at %s has no pip to install wheels with"
                              % (sys.version.split()[0], sys.executable))
            argv = [sys.executable, "-s", "-m", "pip", "install", "--isolated", "--no-cache-dir",
                    "--disable-pip-version-check", "--progress-bar", "off", "--index-url", index]
            if urlsplit(index).scheme == "http":
                argv += ["--trusted-host", urlsplit(index).hostname]
            # --upgrade: with --target, pip leaves a folder that is already there (the setuptools
            # unpacked above) and only warns, so a setuptools wheel would be judged on the old bytes.
            argv += ["--only-binary", ":all:", "--upgrade", "--target", environment["site"], artifact]
        else:
            if not environment["has_easy_install"]:
                raise Refused("Python %s bundles no setuptools with easy_install to install eggs with"
                              % sys.version.split()[0])
            if PYTHON_2:
                # easy_install accepts a folder only when Python would read its .pth files,
                # which for a folder outside the site-packages means PYTHONPATH.
                env["PYTHONPATH"] = environment["site"]
            interpreter = [sys.executable, "-s", "-S"] if PYTHON_2 else environment["python"][:2]
            argv = interpreter + ["-c", EASY_INSTALL_SOURCE, "-q", "easy_install", "-v", "--index-url", index,
                                  "--allow-hosts", allowed_hosts(index), "-d", environment["site"],
                                  "--exclude-scripts", artifact]
        # What the installer is given is still the file with the expected hash.
        if file_sha256(artifact) != self.request["sha256"]:
            raise Refused("%s changed on the node after its download" % self.request["filename"])
        code, timed_out, text = self.run(argv, env)
        if timed_out:
            raise Refused("installing %s timed out (the check's limit is %.0f s)"
                          % (self.request["filename"], self.request["timeout"]))
        if code == 0:
            difference = self.installed_differences(environment["site"], artifact)
            return None if difference is None else ("failed", difference, "")
        if "is not a supported wheel on this platform" in text:
            # The caller picked an interpreter the wheel is not for: no verdict on the wheel.
            raise Refused("%s is not a wheel for Python %s on this node"
                          % (self.request["filename"], sys.version.split()[0]))
        for pattern in UNRESOLVABLE:
            missing = pattern.search(text)
            if missing:
                return ("unresolvable", "dependency %s has no file on the index that Python %s installs"
                        % (missing.group(1), python_series()), missing.group(1))
        return ("failed", "installing %s failed: %s" % (self.request["filename"], installer_error(text)), "")

    def installed_differences(self, site, artifact):
        """None when every file of the artifact is installed with its own bytes (an exit status
        alone proves nothing), else the first difference."""
        archive = zipfile.ZipFile(artifact)
        kind = self.request["kind"]
        if kind == "egg":
            target = os.path.join(site, os.path.basename(artifact))
            if os.path.isfile(target):
                same = file_sha256(target) == self.request["sha256"]
                return None if same else "%s was installed with other bytes than the artifact's" % target
            expected = [(member, member) for member in archive.namelist()
                        if not member.endswith("/") and not member.startswith("EGG-INFO/")]
        else:
            target = site
            expected = [(member, importable_path(member, kind)) for member in archive.namelist()]
            expected = [(member, relative) for member, relative in expected if relative is not None]
        for member, relative in expected:
            path = os.path.join(target, *relative.split("/"))
            wanted = hashlib.sha256(archive.read(member)).hexdigest()
            if not os.path.isfile(path) or file_sha256(path) != wanted:
                return "installing %s did not install the artifact's %s (%s)" % (
                    self.request["filename"], member, "missing" if not os.path.isfile(path) else "other bytes")
        self.log("every file of %s is installed with the artifact's bytes" % self.request["filename"])
        return None

    def import_module(self, environment, name):
        argv = environment["python"] + [name]
        code, timed_out, text, proven = self.run_proving(argv, environment["env"], IMPORT_TIMEOUT)
        if timed_out and self.remaining() <= 0:
            raise Refused("the check's time limit (%.0f s) ran out while importing %s"
                          % (self.request["timeout"], name))
        return {"name": name, "ok": code == 0 and not timed_out and proven, "returncode": code,
                "signal": signal_name(-code) if code < 0 else None,
                "timed_out": timed_out, "proven": proven, "output": text}

    def smoke_check(self, environment, code):
        """The project's smoke check, run after the imports: ok only when it provably finished."""
        self.log("smoke check:\n" + code)
        argument = code.encode("utf-8") if PYTHON_2 else code  # 2.7's exec would encode it as ASCII
        returncode, timed_out, text, proven = self.run_proving(environment["smoke"] + [argument], environment["env"], IMPORT_TIMEOUT)
        if timed_out and self.remaining() <= 0:
            raise Refused("the check's time limit (%.0f s) ran out during the smoke check" % self.request["timeout"])
        ok = returncode == 0 and not timed_out and proven
        if ok:
            problem = ""
        elif timed_out:
            problem = "timed out"
        elif returncode < 0:
            problem = "killed by %s" % signal_name(-returncode)
        else:
            lines = [line.strip() for line in text.splitlines() if line.strip()]
            problem = lines[-1] if lines else "exit status %d" % returncode
        # Its whole output is in the log; the result keeps the line that says why it failed.
        return {"ok": ok, "output": problem}

    def missing_libraries(self, site):
        """Sorted names that `ldd` reports as `not found` for any shared object installed."""
        objects = shared_objects([site, os.path.join(self.folder, "egg-cache")])
        objects += unpack_zipped_egg_objects(site, os.path.join(self.folder, "scan"))
        missing = set()
        env = clean_environment(self.folder)
        for path in objects:
            if self.remaining() <= 0:
                raise Refused("the check's time limit (%.0f s) ran out while running ldd"
                              % self.request["timeout"])
            # A library bundled beside others (auditwheel's numpy.libs, Pillow.libs) has no search
            # path of its own: it finds its siblings because an extension loaded them first, so
            # alone it is read with its own folder as the loader would have it.
            library_env = env if EXTENSION_SUFFIX.search(path) else dict(env, LD_LIBRARY_PATH=os.path.dirname(path))
            try:
                code, _, text = self.run(["ldd", path], library_env, 60)
            except OSError as error:
                self.log("ldd cannot run (%s): native libraries not checked" % error)
                return []
            missing.update(match.group(1) for match in map(NOT_FOUND.match, text.splitlines()) if match)
        return sorted(missing)


class ProofChannel(object):
    """The two pipes of one proving child: the random value in on its stdin, the answer out."""

    def __init__(self, nonce):
        self.nonce_read, nonce_write = os.pipe()
        # Far below a pipe's buffer: written whole before the child starts, never blocking.
        os.write(nonce_write, nonce)
        os.close(nonce_write)
        self.result_read, self.result_write = os.pipe()

    def popen_options(self):
        if PYTHON_2:
            # 2.7's subprocess cannot close every descriptor but one: the child inherits this
            # check's few (its stdin, stdout and stderr are replaced all the same).
            return {"close_fds": False}
        return {"close_fds": True, "pass_fds": (self.result_write,)}

    def child_started(self):
        for name in ("nonce_read", "result_write"):
            os.close(getattr(self, name))
            setattr(self, name, None)

    def answer(self):
        """What the child wrote before it exited; never waits for a descendant that kept the pipe."""
        flags = fcntl.fcntl(self.result_read, fcntl.F_GETFL)
        fcntl.fcntl(self.result_read, fcntl.F_SETFL, flags | os.O_NONBLOCK)
        try:
            return os.read(self.result_read, 256)
        except OSError as error:
            if error.errno in (errno.EAGAIN, errno.EWOULDBLOCK):
                return b""
            raise

    def close(self):
        for name in ("nonce_read", "result_read", "result_write"):
            if getattr(self, name) is not None:
                os.close(getattr(self, name))
                setattr(self, name, None)


# -- the artifact's contents -----------------------------------------------------------------

class InstalledDistribution(object):
    """What installing the artifact put on the import path: files relative to the folder they were
    installed in, a reader of their bytes, and the lines of its top_level.txt."""

    def __init__(self, files, read, top_level):
        self.files = files
        self.read = read
        self.top_level = top_level


def installed_distribution(site, artifact, kind):
    """The files the installer recorded for the artifact's distribution, not the artifact's own
    list: names pip placed elsewhere (a wheel's .data folders) are where Python imports them."""
    if kind == "wheel":
        # pip installs the dist-info folder under the artifact's own name, and lists in its RECORD
        # every file it wrote (scripts and data outside the import path as ../ paths).
        metadata = os.path.join(site, dist_info_folder(zipfile.ZipFile(artifact).namelist()))
        files = [path for path in record_paths(os.path.join(metadata, "RECORD"))
                 if not path.startswith("../") and not os.path.isabs(path)]
        return InstalledDistribution(files, lambda path: read_bytes(os.path.join(site, path)),
                                     file_lines(os.path.join(metadata, "top_level.txt")))
    # easy_install keeps an egg whole, as a zip file or unpacked into a folder of the same name:
    # its members are what it installed.
    egg = os.path.join(site, os.path.basename(artifact))
    if os.path.isfile(egg):
        archive = zipfile.ZipFile(egg)
        return InstalledDistribution(archive.namelist(), archive.read, read_lines(archive, "EGG-INFO/top_level.txt"))
    files = []
    for root, _, names in os.walk(egg):
        relative = os.path.relpath(root, egg)
        files.extend(name if relative == "." else "/".join(relative.split(os.sep) + [name]) for name in names)
    return InstalledDistribution(sorted(files), lambda path: read_bytes(os.path.join(egg, path)),
                                 file_lines(os.path.join(egg, "EGG-INFO", "top_level.txt")))


def installed_modules(installed, log):
    """What to import: the top-level modules and packages the distribution installed, then its
    extension modules. top_level.txt only explains: setuptools can list names it then left out."""
    top_level = set()
    native = set()
    skipped = set()
    for path in installed.files:
        parts = path.split("/")
        if parts[0] == "EGG-INFO" or parts[0].endswith(".dist-info"):
            continue
        if parts[-1].endswith((".so", ".pyd")):
            module = ".".join(parts[:-1] + [parts[-1].split(".")[0]])
            if EXTENSION_SUFFIX.search(parts[-1]) or is_extension_module(installed.read(path), parts[-1].split(".")[0]):
                native.add(module)
            else:
                log("%s exports no module init function: a plain library, not imported" % path)
        # A folder is a package only by an importable name: auditwheel's `numpy.libs` holds
        # libopenblas...so, a library and no module.
        if path.endswith((".py", ".so", ".pyd")):
            if len(parts) == 1 or IDENTIFIER.match(parts[0]):
                top_level.add(parts[0].split(".")[0] if len(parts) == 1 else parts[0])
            elif parts[0] not in skipped:
                skipped.add(parts[0])
                log("%r is not a valid module name: not imported" % parts[0])
    if "EGG-INFO/native_libs.txt" in installed.files:
        # Every library it lists is in the file list already, judged above; this only cross-checks.
        for line in installed.read("EGG-INFO/native_libs.txt").decode("utf-8", "replace").splitlines():
            if line.strip() and line.strip() not in installed.files:
                log("EGG-INFO/native_libs.txt lists %s, which the egg does not contain" % line.strip())
    for line in installed.top_level:
        name = line.replace("/", ".")
        if name.split(".")[0] not in top_level:
            log("listed in top_level.txt but not installed: %s" % name)
    imports = []
    for name in sorted(top_level) + sorted(native - top_level):
        if MODULE_NAME.match(name):
            imports.append(name)
        else:
            log("%r is not a valid module name: not imported" % name)
    return {"imports": imports, "native": sorted(name for name in native if MODULE_NAME.match(name))}


def is_test_module(name):
    """Whether a module (its importable name) is there for the project's tests: inside a `tests`,
    `test` or `testing` package, or named as numpy names its own (`_multiarray_tests`).
    The same rule as isTestModule in src/core/compiled.ts."""
    parts = name.split(".")
    return any(part in ("tests", "test", "testing") for part in parts) or \
        bool(re.match(r"^(_\w*tests|\w*_tests)$", parts[-1]))


def importable_path(member, kind):
    """The member's path as installed in site-packages, or None for metadata and data."""
    if member.endswith("/"):
        return None
    parts = member.split("/")
    if kind == "egg":
        return None if parts[0] == "EGG-INFO" else member
    if parts[0].endswith(".dist-info"):
        return None
    if parts[0].endswith(".data"):
        if len(parts) > 2 and parts[1] in ("purelib", "platlib"):
            return "/".join(parts[2:])
        return None
    if "__pycache__" in parts:
        return None
    return member


def is_extension_module(data, name):
    # A Python extension exports PyInit_<name> (3.x) or init<name> (2.7); a bundled plain
    # library (libfoo.so next to the package) exports neither and cannot be imported.
    name = name.encode("ascii", "replace")
    return (b"\0PyInit_" + name + b"\0") in data or (b"\0init" + name + b"\0") in data


def dist_info_folder(names):
    for member in names:
        first = member.split("/")[0]
        if first.endswith(".dist-info"):
            return first + "/"
    return "-missing-/"


def record_paths(path):
    """The paths a RECORD lists (CSV: a path with a comma comes quoted)."""
    if PYTHON_2:
        with open(path, "rb") as source:
            return [row[0].decode("utf-8") for row in csv.reader(source) if row]
    with open(path, encoding="utf-8", newline="") as source:
        return [row[0] for row in csv.reader(source) if row]


def read_bytes(path):
    with open(path, "rb") as source:
        return source.read()


def file_lines(path):
    if not os.path.isfile(path):
        return []
    text = read_bytes(path).decode("utf-8", "replace")
    return [line.strip() for line in text.splitlines() if line.strip()]


def read_lines(archive, member):
    try:
        text = archive.read(member).decode("utf-8", "replace")
    except KeyError:
        return []
    return [line.strip() for line in text.splitlines() if line.strip()]


# -- installing and judging ------------------------------------------------------------------

def bundled_setuptools():
    """The setuptools wheel `python -m venv` would install, or None (Python 3.12 and later)."""
    try:
        import ensurepip
    except ImportError:
        return None
    folders = [os.path.join(os.path.dirname(ensurepip.__file__), "_bundled")]
    if getattr(ensurepip, "_WHEEL_PKG_DIR", None):
        folders.append(ensurepip._WHEEL_PKG_DIR)
    for folder in folders:
        if os.path.isdir(folder):
            wheels = sorted(name for name in os.listdir(folder)
                            if name.startswith("setuptools-") and name.endswith(".whl"))
            if wheels:
                return os.path.join(folder, wheels[-1])
    return None


def pip_installed():
    # This script runs without site-packages (-S): look where the interpreter's pip would be.
    return os.path.isdir(os.path.join(sysconfig.get_paths()["purelib"], "pip"))


def allowed_hosts(index_url):
    # easy_install compares its --allow-hosts patterns with each URL's whole netloc.
    netloc = urlsplit(index_url).netloc
    if not HOST.match(netloc.rsplit("@", 1)[-1]):
        raise Refused("index_url has an unusable host: %r" % netloc)
    return netloc


def installer_error(output):
    """The line that says why pip or easy_install gave up."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    errors = [line for line in lines if line.lower().startswith("error")]
    if errors:
        return errors[0]
    return lines[-1] if lines else "no output"


def judge(modules, missing, smoke):
    failed = [module for module in modules if not module["ok"]]
    reasons = []
    for module in failed:
        if module["timed_out"]:
            reasons.append("import %s timed out" % module["name"])
        elif module["signal"] is not None:
            reasons.append("import %s was killed by %s" % (module["name"], module["signal"]))
        else:
            lines = [line.strip() for line in module["output"].splitlines() if line.strip()]
            last = lines[-1] if lines else "exit status %d" % module["returncode"]
            if module["returncode"] == 0:
                # Exit status 0 without the proof: something after a failed import (an atexit
                # handler calling os._exit(0), a hook) made the status lie.
                last = "exit status 0 without proof that the import finished (%s)" % last
            reasons.append("import %s failed: %s" % (module["name"], last))
    if missing:
        reasons.append("native libraries not found on the node: " + ", ".join(missing))
    if smoke is not None and not smoke["ok"]:
        reasons.append("the smoke check failed: %s" % smoke["output"])
    if reasons:
        return {"verdict": "failed", "reason": "; ".join(reasons)}
    passed = "the smoke check passed" if smoke is not None else ""
    if not modules:
        return {"verdict": "verified", "reason": "; ".join(["installed; the artifact has no importable modules"] + ([passed] if passed else []))}
    return {"verdict": "verified", "reason": "installed and imported %d modules%s" % (len(modules), "; " + passed if passed else "")}


# -- small pieces ----------------------------------------------------------------------------

def python_series():
    return "%d.%d" % sys.version_info[:2]


def clean_environment(folder):
    """The node's environment without anything that points pip or Python elsewhere."""
    env = {}
    for name, value in os.environ.items():
        upper = name.upper()
        if upper.startswith(("PIP_", "PYTHON", "VIRTUAL_ENV")) or upper.endswith("_PROXY"):
            continue
        env[name] = value
    # No bytecode written: an interpreter whose files the login can write must not change because
    # a check imported a module of it (the start-up fingerprint would take that for tampering).
    env.update(PIP_CONFIG_FILE=os.devnull, PYTHONNOUSERSITE="1", PYTHONIOENCODING="utf-8", PYTHONDONTWRITEBYTECODE="1",
               HOME=os.path.join(folder, "home"), PYTHON_EGG_CACHE=os.path.join(folder, "egg-cache"))
    return env


def child_limits():
    """[(name, resource, value)] of CHILD_LIMITS, each no higher than the node's own hard limit
    (which an unprivileged login cannot raise). Worked out here, so the child only sets known values."""
    limits = []
    for name, wanted in CHILD_LIMITS:
        number = getattr(resource, name)
        hard = resource.getrlimit(number)[1]
        # RLIM_INFINITY is -1 on Python 2: no plain min().
        limits.append((name, number, wanted if hard == resource.RLIM_INFINITY or hard > wanted else hard))
    return limits


def become_subreaper():
    """On Linux, what the check's children leave orphaned comes to this process instead of the
    node's init, for reap_orphans() to collect: an init that reaps nothing (a container's) would
    keep every killed process of a fork bomb as a zombie, counted against the login's process
    limit for good. Elsewhere, and without ctypes, the init collects them."""
    try:
        import ctypes
        ctypes.CDLL(None).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    except (ImportError, OSError, AttributeError):
        pass


def shut_out_children():
    """On Linux, the code this check runs (as the same login, so the same user) can neither trace
    this process nor open its memory or file descriptors under /proc: otherwise an import could
    write a forged answer into this process's output, or rewrite its verdict in memory, and then
    kill it. A process that attached before this (on a login shared with other work) is refused.
    Not done elsewhere (FreeBSD would need procctl PROC_TRACE_CTL): see the README."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes
    if ctypes.CDLL(None).prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
        raise Refused("the check could not shut out the code it runs (prctl PR_SET_DUMPABLE failed)")
    with open("/proc/self/status") as status:
        tracer = [line.split()[1] for line in status if line.startswith("TracerPid:")]
    if tracer and tracer[0] != "0":
        raise Refused("process %s of the node is tracing the check" % tracer[0])


def reap_orphans():
    """Collects the ended processes that came to this one, waiting a little for those just
    killed; gives up on one still running (nothing of the check should be by now)."""
    deadline = time.time() + 5
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except OSError:
            return  # no child left
        if pid == 0:
            if time.time() >= deadline:
                return
            time.sleep(0.01)


def descendants():
    """On Linux, the processes below this one, found through /proc."""
    if not os.path.isdir("/proc/self"):
        return []
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as source:
                stat = source.read()
        except (IOError, OSError):
            continue  # gone
        # The command name in parentheses may hold spaces and parentheses: the fields after the last ")".
        state, parent = stat[stat.rindex(")") + 2:].split()[:2]
        if state != "Z":  # ended, left for reap_orphans(); a zombie has no children
            children.setdefault(int(parent), []).append(int(entry))
    found = []
    waiting = [os.getpid()]
    while waiting:
        below = children.get(waiting.pop(), [])
        found.extend(below)
        waiting.extend(below)
    return found


def marked_processes(marker):
    """Processes of this user whose environment holds `marker`, other than this one."""
    if not os.path.isdir("/proc/self"):
        return []
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            if os.stat("/proc/" + entry).st_uid != os.getuid():
                continue
            with open("/proc/%s/environ" % entry, "rb") as source:
                if marker in source.read().split(b"\0"):
                    found.append(int(entry))
        except (IOError, OSError):
            continue  # gone, or not ours to read
    return found


def other_login_processes():
    """Processes of this login other than this one and its ancestors (the SSH session, the shell)."""
    import pwd
    login = pwd.getpwuid(os.getuid()).pw_name
    with open(os.devnull, "rb") as nothing:
        lister = subprocess.Popen(["ps", "-U", login, "-o", "pid=", "-o", "ppid="], stdin=nothing,
                                  stdout=subprocess.PIPE, close_fds=True)
        listing = lister.communicate()[0].decode("ascii", "replace")
    parents = {}
    for line in listing.splitlines():
        fields = line.split()
        if len(fields) == 2 and fields[0].isdigit() and fields[1].isdigit():
            parents[int(fields[0])] = int(fields[1])
    keep = set([lister.pid])
    pid = os.getpid()
    while pid not in keep and pid > 1:
        keep.add(pid)
        pid = parents.get(pid, os.getppid() if pid == os.getpid() else 1)
    return [pid for pid in parents if pid not in keep]


def stop_and_kill(find):
    """Stops every process find() lists until it lists no new one (so none can fork meanwhile),
    then kills them all. Returns how many."""
    stopped = set()
    while True:
        found = [pid for pid in find() if pid not in stopped]
        if not found:
            break
        for pid in found:
            signal_process(pid, signal.SIGSTOP)
            stopped.add(pid)
    for pid in stopped:
        signal_process(pid, signal.SIGKILL)
    return len(stopped)


def signal_process(pid, number):
    try:
        os.kill(pid, number)
    except OSError:
        pass  # already gone


def shared_objects(folders):
    found = []
    for top in folders:
        for root, _, files in os.walk(top):
            found.extend(os.path.join(root, name) for name in sorted(files)
                         if name.endswith(".so") or ".so." in name)
    return sorted(found)


def unpack_zipped_egg_objects(site, scratch):
    """Shared objects inside eggs easy_install left zipped, unpacked only so ldd can read them."""
    found = []
    for name in sorted(os.listdir(site)):
        path = os.path.join(site, name)
        if name.endswith(".egg") and os.path.isfile(path):
            target = os.path.join(scratch, name)
            archive = zipfile.ZipFile(path)
            members = [member for member in archive.namelist()
                       if member.endswith(".so") or ".so." in member.split("/")[-1]]
            archive.extractall(target, members)
            found.extend(os.path.join(target, member) for member in members)
    return found


def split_credentials(url):
    """(url without user:password, Basic authorization header or None)."""
    parts = urlsplit(url)
    if parts.username is None:
        return url, None
    netloc = parts.hostname + (":%d" % parts.port if parts.port else "")
    header = basic_authorization(unquote(parts.username), unquote(parts.password or ""))
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, "")), header


def basic_authorization(username, password):
    secret = "%s:%s" % (username, password)
    return "Basic " + base64.b64encode(secret.encode("utf-8")).decode("ascii")


def wait_until(child, deadline):
    """Polls until the child exits (False) or the deadline passes (True)."""
    pause = 0.005
    while child.poll() is None:
        if time.time() >= deadline:
            return True
        time.sleep(pause)
        pause = min(pause * 2, 0.1)
    return False


def read_limited(path):
    with open(path, "rb") as source:
        data = source.read(OUTPUT_LIMIT + 1)
    text = data[:OUTPUT_LIMIT].decode("utf-8", "replace")
    return text + ("\n[output cut at %d bytes]" % OUTPUT_LIMIT if len(data) > OUTPUT_LIMIT else "")


SIGNAL_NAMES = {}
for _name in sorted(dir(signal)):
    # Aliases (SIGIOT, SIGCLD, SIGPOLL) lose to the usual names, which sort first or later.
    if _name.startswith("SIG") and not _name.startswith("SIG_") and _name not in ("SIGIOT", "SIGCLD", "SIGPOLL"):
        SIGNAL_NAMES[getattr(signal, _name)] = _name


def signal_name(number):
    return SIGNAL_NAMES.get(number, "signal %d" % number)


def describe_status(returncode):
    return "killed by %s" % signal_name(-returncode) if returncode < 0 else "exit status %d" % returncode


def shell_display(text):
    # For the log only: nothing here is ever run by a shell.
    return text if re.match(r"^[A-Za-z0-9_./:=@%+,-]+$", text) else "'" + text.replace("'", "'\\''") + "'"


# -- the request and the answer --------------------------------------------------------------

def parse_request(text):
    try:
        request = json.loads(text)
    except ValueError as error:
        raise Refused("the request on stdin is not JSON: %s" % error)
    if not isinstance(request, dict):
        raise Refused("the request on stdin is not a JSON object")
    for key in ("artifact_url", "index_url"):
        if not isinstance(request.get(key), type(u"")) or urlsplit(request[key]).scheme not in ("http", "https"):
            raise Refused("%s must be an http or https URL" % key)
    if not isinstance(request.get("credential"), type(u"")) or not CREDENTIAL.match(request["credential"]):
        raise Refused("credential must be a pydepot-check- credential")
    if request.get("kind") not in ("wheel", "egg"):
        raise Refused("kind must be \"wheel\" or \"egg\"")
    filename = request.get("filename")
    if not isinstance(filename, type(u"")) or not FILENAME.match(filename) or \
            not filename.endswith(".whl" if request["kind"] == "wheel" else ".egg"):
        raise Refused("filename %r is not a file name this check accepts for kind %s" % (filename, request["kind"]))
    if not isinstance(request.get("sha256"), type(u"")) or not SHA256.match(request["sha256"]):
        raise Refused("sha256 must be 64 lowercase hex digits")
    timeout = request.get("timeout", DEFAULT_TIMEOUT)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
        raise Refused("timeout must be a positive number of seconds")
    request["timeout"] = float(timeout)
    startup = request.get("startup")
    if not isinstance(startup, dict) or not startup or \
            not all(isinstance(value, type(u"")) for value in startup.values()):
        raise Refused("startup must be the interpreter's start-up fingerprint from the probe")
    for key in ("allow_root", "exclusive_login"):
        if not isinstance(request.get(key), bool):
            raise Refused("%s must be true or false" % key)
    request["smoke"] = request.get("smoke")
    if request["smoke"] is not None and not isinstance(request["smoke"], type(u"")):
        raise Refused("smoke must be the project's smoke check (a string) or null")
    request["artifact_url"] = request["artifact_url"].split("#", 1)[0]
    return request


def interrupt(number, _frame):
    raise Interrupted(signal_name(number))


def startup_changes(recorded):
    """What differs between the interpreter's start-up files now and at probe time, one line each."""
    current = startup_fingerprint()
    changes = []
    for path in sorted(set(recorded) | set(current)):
        if path not in current:
            changes.append("%s removed" % path)
        elif path not in recorded:
            changes.append("%s added" % path)
        elif current[path] != recorded[path]:
            changes.append("%s changed" % path)
    return changes


def main():
    started = time.time()
    for number in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(number, interrupt)
    check = None
    request = None
    changes = {"before": [], "after": []}
    become_subreaper()
    try:
        try:
            shut_out_children()
            request = parse_request(sys.stdin.read())
            if os.getuid() == 0 and not request["allow_root"]:
                raise Refused("the node login is root, and the node's configuration does not allow it")
            changes["before"] = startup_changes(request["startup"])
            if changes["before"]:
                raise Refused("the interpreter's start-up files changed since the probe: " + "; ".join(changes["before"]))
            check = Check(request)
            result = check.execute()
        except Refused as error:
            result = {"verdict": "error", "reason": str(error)}
        except Interrupted as error:
            result = {"verdict": "error", "reason": "the check was interrupted by %s" % error}
        except Exception as error:
            import traceback
            result = {"verdict": "error", "reason": "the check crashed: %r" % error,
                      "traceback": traceback.format_exc()}
    finally:
        if check is not None:
            check.kill_child()
            check.sweep()
            reap_orphans()
            if check.folder is not None:
                shutil.rmtree(check.folder, ignore_errors=True)
    if check is not None:
        # Measured once everything the check started is gone: did this check change the node?
        changes["after"] = startup_changes(request["startup"])
        check.log("[%s: %s]" % (result["verdict"], result["reason"]))
    for key, empty in (("modules", []), ("missing_libraries", []), ("native_modules", []), ("degraded", False), ("smoke", None)):
        result.setdefault(key, empty)
    result["startup_changes"] = changes
    result["login_uid"] = os.getuid()
    result["log"] = "\n".join(check.log_lines) if check is not None else ""
    result["python"] = sys.version.split()[0]
    result["duration"] = round(time.time() - started, 3)
    sys.stdout.write("\n" + bounded_answer(result) + "\n")
    sys.stdout.flush()


def bounded_answer(result):
    """The result as one JSON line of at most about ANSWER_LIMIT bytes. What can make it longer is
    the children's output: each import's is in the log and in its module's entry, and JSON writes a
    control character or (as Python 2's json does) a non-ASCII one in six bytes. Those are cut,
    shorter each round, saying so; the log keeps its end, where the verdict is."""
    line = json.dumps(result, sort_keys=True)
    kept = OUTPUT_LIMIT
    while len(line) > ANSWER_LIMIT and kept > 0:
        kept //= 4
        for entry in result["modules"] + ([result["smoke"]] if result["smoke"] else []):
            entry["output"] = shortened(entry["output"], kept, False)
        result["log"] = shortened(result["log"], 4 * kept, True)
        line = json.dumps(result, sort_keys=True)
    return line


def shortened(text, kept, keep_end):
    """`text` cut to `kept` characters (its start, or its start and its end) with a note."""
    if len(text) <= kept:
        return text
    note = "\n[... %d characters cut: the check's answer keeps at most %d MiB ...]\n" % (len(text) - kept, ANSWER_LIMIT // (1024 * 1024))
    if keep_end:
        return text[:kept // 2] + note + text[len(text) - kept // 2:]
    return text[:kept] + note


main()
