# What runs before any code of ours: the interpreter's binary and shared library, the
# sitecustomize/usercustomize modules and .pth files of its base paths, and its standard library;
# and the node login's files that sshd and the login's shell read before our command (LOGIN_FILES).
# Sent to the node as data ahead of probe.py and check.py, which run with -S -E -s so that none
# of the interpreter's files has run yet when it is measured (the login's files have: sshd and
# the shell read them to start our command); the server compares the two and names what changed.
#
# A tripwire, not a proof: an interpreter whose files the node login can write can be made to lie
# about itself. The defence is that the login cannot write them; this notices the mistake.
# Standard library only; the same source runs on Python 2.7 and 3.6 to 3.13.
import hashlib
import os
import pwd
import re
import sys
import sysconfig

STARTUP_FILE = re.compile(r"^(sitecustomize|usercustomize)(\.|$)|\.pth$")
# Left out of the standard library's digest: site-packages holds what pip installs (its start-up
# files are listed one by one instead) and walking a well-stocked one takes seconds; nothing
# imports the regression tests, and walking them doubles the cost.
NOT_STDLIB = ("site-packages", "dist-packages", "test")
# In the login's home: what sshd runs (rc) or puts in the environment (environment) before our
# command, the keys it lets in (authorized_keys2 too, which sshd reads by default: an added key is
# someone who can log in and change the node between two checks), and the start-up files of the
# shells that run the command (sh, bash, csh and tcsh, zsh's .zshenv, read even without a terminal)
# and of pam_env. Absent ones are left out, so one that appears counts as added.
LOGIN_FILES = (".ssh/rc", ".ssh/environment", ".ssh/authorized_keys", ".ssh/authorized_keys2",
               ".profile", ".bashrc", ".bash_profile", ".bash_login", ".shrc", ".cshrc", ".tcshrc",
               ".login", ".zshenv", ".pam_environment")

# Jobs the login has asked the system to run later: they start outside every check's processes,
# so no check's clean-up reaches them, and one could change a later check while that runs.
SCHEDULED_JOBS = (("crontab", ["crontab", "-l"]), ("at queue", ["atq"]))


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
    for home in login_homes():
        for name in LOGIN_FILES:
            path = os.path.join(home, name)
            if os.path.lexists(path):
                entries[path] = describe_present(path)
    entries.update(scheduled_jobs())
    return entries


def scheduled_jobs():
    """{"the login's crontab (crontab -l of LOGIN)": digest} for each scheduler that holds a job of
    the login; none for a scheduler the node lacks, or an empty one."""
    try:
        login = pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        login = str(os.getuid())
    found = {}
    for name, argv in SCHEDULED_JOBS:
        listing = command_output(argv)
        if listing:
            found["the login's %s (%s of %s)" % (name, " ".join(argv), login)] = "sha256 " + hashlib.sha256(listing).hexdigest()
    return found


def command_output(argv):
    """What argv prints when it succeeds; None when it fails or the node has no such command."""
    import subprocess
    try:
        with open(os.devnull, "r+b") as nothing:
            command = subprocess.Popen(argv, stdin=nothing, stdout=subprocess.PIPE, stderr=nothing, close_fds=True)
            output = command.communicate()[0]
    except OSError:
        return None
    return output if command.returncode == 0 else None


def login_homes():
    """The login's home as sshd finds it (the user database) and as its shell does ($HOME)."""
    homes = []
    try:
        homes.append(pwd.getpwuid(os.getuid()).pw_dir)
    except KeyError:
        pass  # no entry, no home for sshd
    if os.environ.get("HOME"):
        homes.append(os.environ["HOME"])
    return unique(homes)


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


def describe_present(path):
    try:
        return describe(path)
    except (IOError, OSError) as error:
        # A dangling link, or a file the login may not read: there all the same, which counts.
        return "unreadable: %s" % error.strerror


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
