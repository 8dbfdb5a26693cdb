import { AppError } from "../core/errors.js";
import type { PageFormat } from "../services/pages.js";

const JSON_V1 = "application/vnd.pypi.simple.v1+json";
const HTML_V1 = "application/vnd.pypi.simple.v1+html";
const HTML = "text/html";
/**
 * Tie-break at equal q between types the client named: the richest form wins. (This is why the
 * header is read here and not by `negotiator`, which breaks such ties by the header's order.)
 */
const RANK: Record<PageFormat, number> = { [JSON_V1]: 3, [HTML_V1]: 2, [HTML]: 1 };
/** Tie-break at equal q between types only a wildcard reached: text/html first, for old clients. */
const WILDCARD_RANK: Record<PageFormat, number> = { [HTML]: 3, [JSON_V1]: 2, [HTML_V1]: 1 };
/**
 * The Accept ranges that reach each format, most specific first. The most specific range present
 * sets the format's q (RFC 9110 §12.5.1), so `text/html;q=0, *\/*` refuses text/html instead of
 * sending it. `*\/*` and `text/*` alone still get text/html, never v1+html, which pip < 22.2 does
 * not recognise.
 */
const RANGES: Record<PageFormat, string[][]> = {
  [HTML]: [[HTML], ["text/*"], ["*/*"]],
  [HTML_V1]: [[HTML_V1, "application/vnd.pypi.simple.latest+html"], ["application/*"], ["*/*"]],
  [JSON_V1]: [[JSON_V1, "application/vnd.pypi.simple.latest+json"], ["application/*"], ["*/*"]],
};

interface Offer {
  format: PageFormat;
  quality: number;
  /** Whether the client named the type itself rather than a wildcard reaching it. */
  named: boolean;
}

/**
 * PEP 691 negotiation. No Accept (easy_install), `*\/*` or `text/*` get text/html; a header that
 * leaves none of the three types acceptable gets 406.
 */
export function negotiate(accept: string | undefined): PageFormat {
  if (!accept?.trim()) return HTML;
  const qualities = rangeQualities(accept);
  let best: Offer | null = null;
  for (const format of Object.keys(RANGES) as PageFormat[]) {
    const offer = offerOf(format, qualities);
    if (offer && offer.quality > 0 && (!best || better(offer, best))) best = offer;
  }
  if (!best) throw new AppError(406, `Not acceptable: this index serves ${HTML}, ${HTML_V1} and ${JSON_V1}`);
  return best.format;
}

/** Each media range of the header with its q (the highest, if a range is given twice); ranges with an unreadable q are left out. */
function rangeQualities(accept: string): Map<string, number> {
  const qualities = new Map<string, number>();
  for (const part of accept.split(",")) {
    const [rawType, ...parameters] = part.split(";");
    let quality = 1;
    for (const parameter of parameters) {
      const match = /^\s*q\s*=\s*([0-9.]+)\s*$/i.exec(parameter);
      if (match) quality = Number(match[1]);
    }
    if (Number.isNaN(quality)) continue;
    const type = rawType.trim().toLowerCase();
    qualities.set(type, Math.max(quality, qualities.get(type) ?? 0));
  }
  return qualities;
}

/** The format's q from the most specific range that reaches it, or null when none does. */
function offerOf(format: PageFormat, qualities: Map<string, number>): Offer | null {
  for (const [level, ranges] of RANGES[format].entries()) {
    const present = ranges.filter((range) => qualities.has(range));
    if (present.length > 0) return { format, quality: Math.max(...present.map((range) => qualities.get(range)!)), named: level === 0 };
  }
  return null;
}

function better(offer: Offer, best: Offer): boolean {
  if (offer.quality !== best.quality) return offer.quality > best.quality;
  if (offer.named !== best.named) return offer.named;
  return offer.named ? RANK[offer.format] > RANK[best.format] : WILDCARD_RANK[offer.format] > WILDCARD_RANK[best.format];
}
