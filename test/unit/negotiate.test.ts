import { describe, expect, it } from "vitest";
import { AppError } from "../../src/core/errors.js";
import { negotiate } from "../../src/http/negotiate.js";

const HTML = "text/html";
const HTML_V1 = "application/vnd.pypi.simple.v1+html";
const JSON_V1 = "application/vnd.pypi.simple.v1+json";
const PIP_22_2 = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01";

describe("negotiate", () => {
  it.each<[string, string | undefined, string]>([
    ["no header (easy_install)", undefined, HTML],
    ["an empty header", "", HTML],
    ["a blank header", "   ", HTML],
    ["*/* (file downloads)", "*/*", HTML],
    ["text/*", "text/*", HTML],
    ["text/html (pip < 22.2)", "text/html", HTML],
    ["pip >= 22.2", PIP_22_2, JSON_V1],
    ["pip >= 22.2's header reordered", "text/html; q=0.01, application/vnd.pypi.simple.v1+html; q=0.1, application/vnd.pypi.simple.v1+json", JSON_V1],
    ["v1+html preferred over text/html", "application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01", HTML_V1],
    ["latest+json", "application/vnd.pypi.simple.latest+json", JSON_V1],
    ["latest+html", "application/vnd.pypi.simple.latest+html", HTML_V1],
    ["upper-case types", "Application/Vnd.Pypi.Simple.V1+JSON", JSON_V1],
    ["q=0 on JSON", "application/vnd.pypi.simple.v1+json;q=0, text/html", HTML],
    ["q=0 on JSON, with spaces", "application/vnd.pypi.simple.v1+json ; q = 0 , text/html;q=0.5", HTML],
    ["q=0.000 on v1+html", "application/vnd.pypi.simple.v1+html;q=0.000, text/html;q=0.001", HTML],
    ["a higher q on text/html", "application/vnd.pypi.simple.v1+json;q=0.5, text/html", HTML],
    ["equal q: the richest form wins", "text/html, application/vnd.pypi.simple.v1+html, application/vnd.pypi.simple.v1+json", JSON_V1],
    ["equal q, text/html listed last", "application/vnd.pypi.simple.v1+html, text/html", HTML_V1],
    ["unknown types next to a known one", "image/png, application/json;q=0.9, text/html;q=0.1", HTML],
    ["application/* alone", "application/*", JSON_V1],
    ["text/html refused, */* welcome: the type's own q=0 wins over the wildcard", "text/html;q=0, */*", JSON_V1],
    ["text/html ranked below */*", "*/*;q=0.9, text/html;q=0.1", JSON_V1],
    ["JSON refused, application/* welcome", "application/vnd.pypi.simple.v1+json;q=0, application/*", HTML_V1],
    ["v1+html refused, */* welcome", "application/vnd.pypi.simple.v1+html;q=0, */*", HTML],
    ["equal q: a named type over one a wildcard reaches", "text/html;q=0.5, */*;q=0.5", HTML],
    ["a browser", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", HTML],
    ["a type given twice: its higher q", "text/html;q=0, text/html;q=0.5", HTML],
  ])("%s → the right type", (_, accept, expected) => {
    expect(negotiate(accept)).toBe(expected);
  });

  it.each(["application/json", "image/png", "application/vnd.pypi.simple.v2+json", "text/html;q=0", "application/vnd.pypi.simple.v1+json;q=0", "text/html;q=0, text/*", "*/*;q=0"])(
    "answers 406 for %j, which leaves nothing this index serves acceptable",
    (accept) => {
      let thrown: unknown;
      try {
        negotiate(accept);
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(AppError);
      expect((thrown as AppError).status).toBe(406);
      expect((thrown as AppError).message).toBe(`Not acceptable: this index serves ${HTML}, ${HTML_V1} and ${JSON_V1}`);
    },
  );
});
