# Repackages the installed files of a Debian binary package (python3-yaml, python3-pil, ...)
# into the wheel upstream would publish: the package's own modules and compiled extensions, its
# own *.dist-info or *.egg-info metadata (an egg-info converted the way bdist_wheel does, with
# the `wheel` package's own pkginfo_to_metadata), a WHEEL file with the tag asked for and a
# RECORD of every member. Optionally, like auditwheel, native libraries copied into a
# `<Name>.libs` folder that the extensions find through RUNPATH $ORIGIN/../<Name>.libs.
#
# usage: debian-wheel.py ROOT TAG OUTPUT_DIR [--require REQ ...] [--library PATH ...]
#   ROOT        where `dpkg-deb -x` unpacked the package (holds usr/lib/python3/dist-packages)
#   TAG         the wheel's tag: py3-none-any, py2.py3-none-any, cp311-cp311-linux_x86_64
#   --require   a Requires-Dist of upstream's that Debian emptied out of requires.txt (its
#               dependencies are Debian packages instead): python-dateutil's six>=1.5
#   --library   a shared library to bundle, as auditwheel does (renamed, see bundled_libraries)
#   --without-top-level   no top_level.txt, as hatchling, flit, maturin and meson-python
#               write wheels (a setuptools-only file)
# Prints the wheel's path. Run with Python 3.11 and the `wheel` wheel on PYTHONPATH.
import argparse
import base64
import hashlib
import io
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from email.generator import Generator

from wheel.metadata import pkginfo_to_metadata

# Bytecode is the installer's to write; a wheel holds none.
SKIPPED_FOLDERS = ("__pycache__",)
MTIME = (2020, 1, 1, 0, 0, 0)


def main(root, tag, output_dir, requires, libraries, top_level):
    site = os.path.join(root, "usr", "lib", "python3", "dist-packages")
    infos = [name for name in os.listdir(site) if name.endswith((".dist-info", ".egg-info"))]
    if len(infos) != 1:
        raise SystemExit("expected one .dist-info or .egg-info in %s, found %r" % (site, infos))
    info = os.path.join(site, infos[0])
    name, version = metadata_name_version(info)
    # bdist_wheel's escaping: runs of other characters become "_" (python-dateutil → python_dateutil).
    stem = "%s-%s" % (escape(name), escape(version))
    dist_info = stem + ".dist-info"
    members = {}
    for folder, folders, files in os.walk(site):
        folders[:] = sorted(f for f in folders if f not in SKIPPED_FOLDERS and os.path.join(folder, f) != info)
        for filename in sorted(files):
            path = os.path.join(folder, filename)
            members[os.path.relpath(path, site).replace(os.sep, "/")] = read(path)
    members.update(metadata_members(info, dist_info, tag, requires))
    if not top_level:
        members.pop(dist_info + "/top_level.txt", None)
    if libraries:
        members.update(bundled_libraries(members, "%s.libs" % name, libraries))
    members[dist_info + "/RECORD"] = record(members, dist_info + "/RECORD")
    path = os.path.join(output_dir, "%s-%s.whl" % (stem, tag))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        # dist-info last, as bdist_wheel writes it.
        for member in sorted(members, key=lambda m: (m.startswith(dist_info + "/"), m)):
            entry = zipfile.ZipInfo(member, MTIME)
            entry.external_attr = (0o755 if member.endswith(".so") or ".so." in member else 0o644) << 16
            entry.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(entry, members[member])
    print(path)


def metadata_name_version(info):
    source = os.path.join(info, "METADATA" if info.endswith(".dist-info") else "PKG-INFO")
    fields = {}
    for line in read(source).decode("utf-8").splitlines():
        if not line:
            break
        key, _, value = line.partition(":")
        fields.setdefault(key.strip().lower(), value.strip())
    return fields["name"], fields["version"]


def metadata_members(info, dist_info, tag, requires):
    """METADATA, WHEEL and top_level.txt of the new wheel (a dist-info's other files kept)."""
    members = {}
    if info.endswith(".dist-info"):
        for filename in sorted(os.listdir(info)):
            if filename not in ("RECORD", "WHEEL", "INSTALLER", "REQUESTED", "direct_url.json"):
                members["%s/%s" % (dist_info, filename)] = read(os.path.join(info, filename))
    else:
        message = pkginfo_to_metadata(info, os.path.join(info, "PKG-INFO"))
        for requirement in requires:
            message["Requires-Dist"] = requirement
        # Written as bdist_wheel writes it: a text generator, no header folding, UTF-8.
        text = io.StringIO()
        Generator(text, mangle_from_=False, maxheaderlen=0).flatten(message)
        members[dist_info + "/METADATA"] = text.getvalue().encode("utf-8")
        for filename in ("top_level.txt", "entry_points.txt", "namespace_packages.txt"):
            if os.path.exists(os.path.join(info, filename)):
                members["%s/%s" % (dist_info, filename)] = read(os.path.join(info, filename))
    pure = tag.endswith("-none-any")
    python, abi, platform = tag.split("-")
    tags = ["Tag: %s-%s-%s" % (p, abi, platform) for p in python.split(".")]
    wheel = ["Wheel-Version: 1.0", "Generator: pydepot-tests (debian-wheel.py)",
             "Root-Is-Purelib: %s" % ("true" if pure else "false")] + tags
    members[dist_info + "/WHEEL"] = ("\n".join(wheel) + "\n\n").encode("ascii")
    return members


def bundled_libraries(members, folder, libraries):
    """auditwheel's layout: each library in <folder>/ under a name of its own
    (`libwebp-1a2b3c4d.so.7`, so a system copy is never taken for it), the extensions' and the
    libraries' NEEDED entries renamed to match, and each extension's RUNPATH pointed at <folder>.
    The libraries get no search path of their own: one finds another bundled one only because an
    extension loaded it first, which is how numpy.libs' libopenblas finds its libgfortran."""
    scratch = tempfile.mkdtemp()
    try:
        renamed = {}
        for library in libraries:
            soname = os.path.basename(library)
            stem, _, suffix = soname.partition(".so")
            digest = hashlib.sha256(read(library)).hexdigest()[:8]
            renamed[soname] = "%s-%s.so%s" % (stem, digest, suffix)
        patched = {}
        for library in libraries:
            patched["%s/%s" % (folder, renamed[os.path.basename(library)])] = read(library)
        for member in members:
            if member.endswith(".so"):
                patched[member] = members[member]
        bundled = {}
        for member, content in patched.items():
            copy = os.path.join(scratch, os.path.basename(member))
            with open(copy, "wb") as target:
                target.write(content)
            # One change per run: Debian's patchelf 0.14 mixes up several given at once.
            changes = [["--replace-needed", old, new] for old, new in sorted(renamed.items())]
            if member.startswith(folder + "/"):
                changes.append(["--set-soname", os.path.basename(member)])
            else:
                changes.append(["--set-rpath", "$ORIGIN/" + "../" * member.count("/") + folder])
            for change in changes:
                subprocess.check_call(["patchelf"] + change + [copy])
            bundled[member] = read(copy)
        return bundled
    finally:
        shutil.rmtree(scratch)


def record(members, record_path):
    rows = []
    for member in sorted(members):
        digest = base64.urlsafe_b64encode(hashlib.sha256(members[member]).digest()).rstrip(b"=").decode("ascii")
        rows.append("%s,sha256=%s,%d" % (member, digest, len(members[member])))
    rows.append("%s,," % record_path)
    return ("\n".join(rows) + "\n").encode("utf-8")


def escape(text):
    return re.sub(r"[^\w\d.]+", "_", text, flags=re.UNICODE)


def read(path):
    with open(path, "rb") as source:
        return source.read()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("root")
    parser.add_argument("tag")
    parser.add_argument("output_dir")
    parser.add_argument("--require", action="append", default=[])
    parser.add_argument("--library", action="append", default=[])
    parser.add_argument("--without-top-level", action="store_true")
    arguments = parser.parse_args()
    main(arguments.root, arguments.tag, arguments.output_dir, arguments.require, arguments.library,
         not arguments.without_top_level)
