# What an interpreter runs before any code of ours: its binary and shared library, the
# sitecustomize/usercustomize modules and .pth files of its base paths, and its standard library.
# Sent to the node as data ahead of probe.py and check.py, which run with -S -E -s so that none
# of this has run yet when it is measured; the server compares the two and names what changed.
#
# A tripwire, not a proof: an interpreter whose files the node login can write can be made to lie
# about itself. The defence is that the login cannot write them; this notices the mistake.
# Standard library only; the same source runs on Python 2.7 and 3.6 to 3.13.
import hashlib
import os
import re
import sys
import sysconfig

STARTUP_FILE = re.compile(r"^(sitecustomize|usercustomize)(\.|$)|\.pth$")
# Left out of the standard library's digest: site-packages holds what pip installs (its start-up
# files are listed one by one instead) and walking a well-stocked one takes seconds; nothing
# imports the regression tests, and walking them doubles the cost.
NOT_STDLIB = ("site-packages", "dist-packages", "test")


def startup_fingerprint():
    """{path: digest}: a file's sha256, or for a standard library folder a digest of its entries'
    names, sizes, mtimes and ctimes (ctime cannot be set back by the file's owner)."""
    entries = {}
    for path in interpreter_files():
        entries[path] = "sha256 " + file_sha256(path)
    paths = sysconfig.get_paths()
    for folder in unique([entry for entry in sys.path if entry] + [paths["purelib"], paths["platlib"]]):
        for path in startup_files(folder):
            entries[path] = describe(path)
    for stdlib in unique([paths["stdlib"], paths["platstdlib"]]):
        for folder, listing in stdlib_folders(stdlib):
            entries[folder + os.sep] = "entries " + listing
    return entries


def interpreter_files():
    binary = os.path.realpath(sys.executable)
    found = [binary]
    library = sysconfig.get_config_var("INSTSONAME") or sysconfig.get_config_var("LDLIBRARY")
    if sysconfig.get_config_var("Py_ENABLE_SHARED") and library:
        # The copy a relocated interpreter loads sits beside it; LIBDIR is where it was built.
        for folder in (os.path.join(os.path.dirname(os.path.dirname(binary)), "lib"), sysconfig.get_config_var("LIBDIR")):
            candidate = os.path.join(folder or "", library)
            if os.path.isfile(candidate):
                found.append(os.path.realpath(candidate))
                break
    return unique(found)


def startup_files(folder):
    if not os.path.isdir(folder):
        return []
    found = []
    for name in sorted(os.listdir(folder)):
        if STARTUP_FILE.search(name):
            found.append(os.path.join(folder, name))
    cache = os.path.join(folder, "__pycache__")
    if os.path.isdir(cache):
        found.extend(os.path.join(cache, name) for name in sorted(os.listdir(cache))
                     if name.startswith(("sitecustomize.", "usercustomize.")))
    return found


def stdlib_folders(top):
    for folder, folders, files in os.walk(top):
        folders[:] = sorted(name for name in folders if name not in NOT_STDLIB)
        digest = hashlib.sha256()
        for name in sorted(folders + files):
            try:
                status = os.lstat(os.path.join(folder, name))
            except OSError:
                continue  # gone while we looked
            line = "%s\0%d\0%r\0%r\n" % (name, status.st_size, status.st_mtime, status.st_ctime)
            # Python 2 lists names as bytes already; Python 3 decodes them with surrogateescape.
            digest.update(line if isinstance(line, bytes) else line.encode("utf-8", "surrogateescape"))
        yield folder, digest.hexdigest()


def describe(path):
    if os.path.isdir(path):
        return "folder " + " ".join(sorted(os.listdir(path)))
    return "sha256 " + file_sha256(path)


def file_sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as source:
        while True:
            block = source.read(1024 * 1024)
            if not block:
                return digest.hexdigest()
            digest.update(block)


def unique(items):
    seen = []
    for item in items:
        if item not in seen:
            seen.append(item)
    return seen
