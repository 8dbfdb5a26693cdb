import { format } from "node:util";

/**
 * Control characters other than tab and newline (C0, DEL, C1) and the bidirectional overrides:
 * in a build log, a check log, a reason or a filename they would move the cursor, retitle or
 * clear the operator's terminal, write its clipboard (OSC 52) or hide text.
 */
const CONTROLS = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/** Text as the terminal should show it: each control character written out (`\x1b`), never obeyed. */
export function printable(text: string): string {
  return text.replace(CONTROLS, (character) => {
    const code = character.charCodeAt(0);
    return code < 0x100 ? `\\x${code.toString(16).padStart(2, "0")}` : `\\u${code.toString(16).padStart(4, "0")}`;
  });
}

/**
 * Everything the pydepot command prints through console (its commands, the server's and the
 * agent's log lines) shows text from uploads and builds: make all of it printable at once, so
 * no command can forget. Progress bars and rendered files write to the streams directly.
 */
export function printOnlyPrintable(): void {
  for (const method of ["log", "info", "warn", "error"] as const) {
    const write = console[method].bind(console);
    console[method] = (...values: unknown[]) => write(printable(format(...values)));
  }
}
