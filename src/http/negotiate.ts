import { AppError } from "../core/errors.js";
import type { PageFormat } from "../services/pages.js";

const JSON_V1 = "application/vnd.pypi.simple.v1+json";
const HTML_V1 = "application/vnd.pypi.simple.v1+html";
const HTML = "text/html";
/** Tie-break at equal q: the richest form wins. */
const RANK: Record<PageFormat, number> = { [JSON_V1]: 3, [HTML_V1]: 2, [HTML]: 1 };

/**
 * PEP 691 negotiation. No Accept (easy_install), `*\/*` or `text/*` get text/html, never v1+html,
 * which pip < 22.2 does not recognise; a header that names none of the three types gets 406.
 */
export function negotiate(accept: string | undefined): PageFormat {
  if (!accept?.trim()) return HTML;
  let best: PageFormat | null = null;
  let bestQuality = 0;
  for (const part of accept.split(",")) {
    const [rawType, ...parameters] = part.split(";");
    let quality = 1;
    for (const parameter of parameters) {
      const match = /^\s*q\s*=\s*([0-9.]+)\s*$/i.exec(parameter);
      if (match) quality = Number(match[1]);
    }
    const offer = offerFor(rawType.trim().toLowerCase());
    if (!offer || !(quality > 0)) continue;
    if (quality > bestQuality || (quality === bestQuality && best && RANK[offer] > RANK[best])) {
      best = offer;
      bestQuality = quality;
    }
  }
  if (!best) throw new AppError(406, `Not acceptable: this index serves ${HTML}, ${HTML_V1} and ${JSON_V1}`);
  return best;
}

function offerFor(type: string): PageFormat | null {
  switch (type) {
    case "*/*":
    case "text/*":
    case HTML:
      return HTML;
    case "application/*":
    case JSON_V1:
    case "application/vnd.pypi.simple.latest+json":
      return JSON_V1;
    case HTML_V1:
    case "application/vnd.pypi.simple.latest+html":
      return HTML_V1;
    default:
      return null;
  }
}
