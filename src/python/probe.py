# Describes the interpreter that runs it: version, platform, egg platform and the wheel tags it
# accepts, the login's uid and the interpreter's start-up fingerprint (fingerprint.py, sent
# ahead of this script), as ONE JSON object on stdout. Sent to a node as data and run with
# -S -E -s -B, so the fingerprint is taken before anything of site has run; site is loaded
# afterwards for setuptools and pip. Standard library only; runs unchanged on Python 2.7 and
# 3.6 to 3.13.
import json
import os
import platform
import sys
import warnings

# `python probe.py` puts the script's folder first on sys.path and `python -` the current
# folder: a stray pip.py or setuptools.py there must not answer for the interpreter.
if sys.path and sys.path[0] in ("", os.getcwd(), os.path.dirname(os.path.abspath(sys.argv[0]))):
    del sys.path[0]

# Deprecation notices from setuptools and pip say nothing about the interpreter.
warnings.simplefilter("ignore")


def sysconfig_platform():
    try:
        import sysconfig
        return sysconfig.get_platform()
    except ImportError:
        from distutils.util import get_platform
        return get_platform()


def module_exists(name):
    try:
        import importlib.util
        return importlib.util.find_spec(name) is not None
    except ImportError:
        import imp
        try:
            imp.find_module(name)
            return True
        except ImportError:
            return False


def setuptools_facts():
    """(importable, version, egg platform). Imported before pip: on 3.10 and 3.11 importing pip
    first makes setuptools' distutils shim fail with an AssertionError."""
    try:
        import setuptools
        import pkg_resources
        return True, setuptools.__version__, pkg_resources.get_build_platform()
    except Exception:
        return False, None, egg_platform_without_setuptools()


def egg_platform_without_setuptools():
    # The derivation of pkg_resources.get_build_platform(), which names eggs' platforms.
    plat = sysconfig_platform()
    if sys.platform == "darwin" and not plat.startswith("macosx-"):
        release = platform.mac_ver()[0].split(".")
        if len(release) >= 2:
            machine = os.uname()[4].replace(" ", "_")
            if machine in ("PowerPC", "Power_Macintosh"):
                machine = "ppc"
            return "macosx-%s.%s-%s" % (release[0], release[1], machine)
    return plat


def pip_version():
    try:
        import pip
        return pip.__version__
    except Exception:
        return None


def wheel_tags():
    """(tags in pip's order of preference, where they came from)."""
    try:
        from pip._vendor.packaging import tags
        return [str(tag) for tag in tags.sys_tags()], "pip._vendor.packaging.tags"
    except Exception:
        pass
    try:
        # pip before 19.3 (2.7's pip 19.2.3, 3.6's pip 18.1): (python, abi, platform) tuples.
        from pip._internal.pep425tags import get_supported
        return [tag_text(tag) for tag in get_supported()], "pip._internal.pep425tags"
    except Exception:
        pass
    return fallback_tags(), "fallback"


def tag_text(tag):
    if isinstance(tag, tuple):
        return "-".join(tag)
    return str(tag)


IMPLEMENTATION_ABBREVIATIONS = {"cpython": "cp", "pypy": "pp", "ironpython": "ip", "jython": "jy"}


def fallback_tags():
    """The few tags a plain build of this interpreter certainly accepts, most specific first."""
    implementation = platform.python_implementation().lower()
    major, minor = sys.version_info[0], sys.version_info[1]
    interpreter = "%s%d%d" % (IMPLEMENTATION_ABBREVIATIONS.get(implementation, implementation), major, minor)
    plat = sysconfig_platform().replace("-", "_").replace(".", "_")
    result = []
    if implementation == "cpython":
        result.append("%s-%s-%s" % (interpreter, interpreter + abi_flags(), plat))
    result.append("%s-none-%s" % (interpreter, plat))
    result.append("%s-none-any" % interpreter)
    result.append("py%d%d-none-any" % (major, minor))
    result.append("py%d-none-any" % major)
    return result


def abi_flags():
    import sysconfig
    flags = ""
    if sysconfig.get_config_var("Py_DEBUG"):
        flags += "d"
    if sys.version_info < (3, 8) and sysconfig.get_config_var("WITH_PYMALLOC"):
        flags += "m"
    if sys.version_info[0] == 2 and sys.maxunicode == 0x10FFFF:
        flags += "u"
    return flags


def load_site():
    # Python 2's site module sets everything up when imported; Python 3's with -S waits for main().
    import site
    if sys.version_info[0] >= 3:
        site.main()


def facts():
    startup = startup_fingerprint()
    load_site()
    has_setuptools, setuptools_version, egg_platform = setuptools_facts()
    tags, tags_source = wheel_tags()
    pip = pip_version()
    return {
        "implementation": platform.python_implementation().lower(),
        "version": platform.python_version(),
        "version_info": "%d.%d" % (sys.version_info[0], sys.version_info[1]),
        "executable": sys.executable,
        "os": platform.system().lower(),
        "arch": platform.machine(),
        "sysconfig_platform": sysconfig_platform(),
        "egg_platform": egg_platform,
        "has_setuptools": has_setuptools,
        "setuptools_version": setuptools_version,
        "has_pip": pip is not None,
        "pip_version": pip,
        # check.py needs both: a venv with pip in it.
        "has_venv": module_exists("venv") and module_exists("ensurepip"),
        "wheel_tags": tags,
        "wheel_tags_source": tags_source,
        "uid": os.getuid(),
        "startup": startup,
        "login_homes": login_homes(),
    }


def main():
    # Whatever an imported module prints must not land in front of the JSON.
    real_stdout = sys.stdout
    sys.stdout = sys.stderr
    try:
        result = facts()
    finally:
        sys.stdout = real_stdout
    real_stdout.write(json.dumps(result, sort_keys=True) + "\n")
    real_stdout.flush()


main()
