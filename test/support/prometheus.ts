// The Prometheus text format read by the Prometheus project's own parser (prometheus_client, from
// Debian's python3-prometheus-client): what a scraper sees, not what a regular expression sees.
import { execFileSync } from "node:child_process";

export interface PromSample {
  /** The sample's full name: `x_total`, `x_bucket`, `x_count`, `x_sum` … */
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface PromFamily {
  name: string;
  type: string;
  help: string;
  samples: PromSample[];
}

const PARSE = `
import json, math, sys
from prometheus_client.parser import text_string_to_metric_families
families = [{"name": f.name, "type": f.type, "help": f.documentation,
             "samples": [{"name": s.name, "labels": s.labels, "value": s.value if math.isfinite(s.value) else str(s.value)} for s in f.samples]}
            for f in text_string_to_metric_families(sys.stdin.read())]
json.dump(families, sys.stdout)
`;

export function parsePrometheusText(text: string): PromFamily[] {
  const output = execFileSync("/usr/bin/python3", ["-c", PARSE], { input: text, encoding: "utf8" });
  return JSON.parse(output) as PromFamily[];
}

/** The one sample of `name` whose labels include `labels`; throws, listing what there is, otherwise. */
export function promSample(families: PromFamily[], name: string, labels: Record<string, string> = {}): number {
  const all = families.flatMap((family) => family.samples).filter((sample) => sample.name === name);
  const found = all.filter((sample) => Object.entries(labels).every(([key, value]) => sample.labels[key] === value));
  if (found.length !== 1) throw new Error(`${found.length} samples ${name}${JSON.stringify(labels)} among ${JSON.stringify(all)}`);
  return found[0].value;
}

export function promFamily(families: PromFamily[], name: string): PromFamily {
  const found = families.find((family) => family.name === name);
  if (!found) throw new Error(`no metric family ${name} among ${families.map((family) => family.name).join(", ")}`);
  return found;
}
