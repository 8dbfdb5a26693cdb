/**
 * How pydepot runs its Python scripts (src/python) on an interpreter, on a node or a build host:
 * one fixed command that reads `<script>\0…<script>\0<request JSON>` on stdin and runs the
 * scripts one after the other in one namespace, with the request as their stdin. Nothing from an
 * upload is ever part of the command. The interpreter starts with -S -E -s -B: nothing of site
 * (sitecustomize, .pth files), the environment or the user's folder runs before the scripts,
 * which measure those start-up files first (fingerprint.py).
 */
const BOOTSTRAP = [
  "import sys",
  "parts = sys.stdin.read().split('\\0')",
  "try:\n    from StringIO import StringIO\nexcept ImportError:\n    from io import StringIO",
  "sys.stdin = StringIO(parts.pop())",
  "sys.argv = ['pydepot']",
  "namespace = {'__name__': '__main__'}",
  "for script in parts:\n    exec(compile(script, 'pydepot', 'exec'), namespace)",
].join("\n");

/** The command for an interpreter. */
export function bootstrapCommand(interpreter: string): string[] {
  return [interpreter, "-S", "-E", "-s", "-B", "-c", BOOTSTRAP];
}

/** What the command reads: the scripts' texts, then the request. */
export function bootstrapInput(scripts: readonly string[], request: object): string {
  return [...scripts, JSON.stringify(request)].join("\0");
}
