import { existsSync, readFileSync } from "node:fs";

/** A row of the index tables: pydepot side by side with nginx. */
export interface Row {
  scenario: string;
  pydepot: string;
  nginx: string;
  ratio: string;
  target: string;
}

/** A row of the farm and checker tables: nothing to compare with, only the figure and its target. */
export interface FigureRow {
  scenario: string;
  result: string;
  target: string;
}

/** What a farm or checker scenario hands to the report: notes on method, and its figures. */
export interface ScenarioResult {
  notes: string[];
  rows: FigureRow[];
}

const COLUMNS: (keyof Row)[] = ["scenario", "pydepot", "nginx", "ratio", "target"];
const FIGURE_COLUMNS: (keyof FigureRow)[] = ["scenario", "result", "target"];

/** A Markdown table, columns padded so it also reads well in a terminal. */
export function formatTable(rows: Row[]): string {
  return table(COLUMNS, rows);
}

export function formatFigures(rows: FigureRow[]): string {
  return table(FIGURE_COLUMNS, rows);
}

function table<T extends object>(columns: (keyof T & string)[], rows: T[]): string {
  const cell = (row: T, column: keyof T) => String(row[column]);
  const widths = columns.map((column) => Math.max(column.length, ...rows.map((row) => [...cell(row, column)].length)));
  const line = (cells: string[]) => `| ${cells.map((text, index) => text + " ".repeat(widths[index] - [...text].length)).join(" | ")} |`;
  return [line(columns), line(widths.map((width) => "-".repeat(width))), ...rows.map((row) => line(columns.map((column) => cell(row, column))))].join("\n");
}

/** "met" or "missed" after a target. */
export function verdict(target: string, met: boolean): string {
  return `${target} ${met ? "(met)" : "(missed)"}`;
}

/** One scenario's part of results.md: its heading, notes and table, as Markdown. */
export interface Section {
  scenario: string;
  markdown: string;
}

const begin = (scenario: string) => `<!-- bench:${scenario} -->`;
const end = (scenario: string) => `<!-- /bench:${scenario} -->`;

/**
 * results.md with the sections of this run replaced and every other scenario's section kept as
 * it was (so `npm run bench -- farm-leases` does not throw away the pages figures), in `order`.
 */
export function mergeResults(file: string, header: string, fresh: Section[], order: readonly string[]): string {
  const previous = existsSync(file) ? readFileSync(file, "utf8") : "";
  const sections = new Map<string, string>();
  for (const scenario of order) {
    const match = new RegExp(`${begin(scenario)}\\n([\\s\\S]*?)\\n${end(scenario)}`).exec(previous);
    if (match) sections.set(scenario, match[1]);
  }
  for (const section of fresh) sections.set(section.scenario, section.markdown.trimEnd());
  const parts = order.filter((scenario) => sections.has(scenario)).map((scenario) => `${begin(scenario)}\n${sections.get(scenario)}\n${end(scenario)}`);
  return [header.trimEnd(), ...parts, ""].join("\n\n");
}
