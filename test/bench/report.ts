export interface Row {
  scenario: string;
  pydepot: string;
  nginx: string;
  ratio: string;
  target: string;
}

const COLUMNS: (keyof Row)[] = ["scenario", "pydepot", "nginx", "ratio", "target"];

/** A Markdown table, columns padded so it also reads well in a terminal. */
export function formatTable(rows: Row[]): string {
  const widths = COLUMNS.map((column) => Math.max(column.length, ...rows.map((row) => [...row[column]].length)));
  const line = (cells: string[]) => `| ${cells.map((cell, index) => cell + " ".repeat(widths[index] - [...cell].length)).join(" | ")} |`;
  return [line(COLUMNS), line(widths.map((width) => "-".repeat(width))), ...rows.map((row) => line(COLUMNS.map((column) => row[column])))].join("\n");
}
