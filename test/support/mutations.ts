// fast-check arbitraries for fuzzing parsers: text made of a parser's own alphabet, noise, and
// valid seeds mutated by inserting, deleting and replacing characters or bytes.
import fc from "fast-check";

type Edit = { at: number; kind: "insert" | "delete" | "replace"; text: string };

const edit = (alphabet: fc.Arbitrary<string>) =>
  fc.record({ at: fc.nat(), kind: fc.constantFrom<Edit["kind"]>("insert", "delete", "replace"), text: alphabet });

function applyEdits(seed: string, edits: Edit[]): string {
  let text = seed;
  for (const { at, kind, text: piece } of edits) {
    const position = text.length === 0 ? 0 : at % (text.length + 1);
    if (kind === "insert") text = text.slice(0, position) + piece + text.slice(position);
    else if (kind === "delete") text = text.slice(0, position) + text.slice(position + 1);
    else text = text.slice(0, position) + piece + text.slice(position + 1);
  }
  return text;
}

/** A seed from the list, edited a few times with pieces drawn from `alphabet`. */
export function mutated(seeds: readonly string[], alphabet: fc.Arbitrary<string>): fc.Arbitrary<string> {
  return fc.tuple(fc.constantFrom(...seeds), fc.array(edit(alphabet), { maxLength: 6 })).map(([seed, edits]) => applyEdits(seed, edits));
}

/** Strings over an alphabet of meaningful pieces plus any character. */
export function textOf(pieces: readonly string[]): fc.Arbitrary<string> {
  return fc.array(fc.oneof(fc.constantFrom(...pieces), fc.string({ maxLength: 3, unit: "grapheme-composite" }), fc.string({ maxLength: 2, unit: "binary" })), { maxLength: 20 }).map((parts) => parts.join(""));
}

/** Bytes of a seed with a few bytes overwritten, inserted or cut off. */
export function mutatedBytes(seed: Buffer): fc.Arbitrary<Buffer> {
  return fc
    .record({
      writes: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 8 }),
      cut: fc.option(fc.nat(), { nil: undefined }),
    })
    .map(({ writes, cut }) => {
      const bytes = Buffer.from(seed);
      for (const [at, value] of writes) bytes[at % bytes.length] = value;
      return cut === undefined ? bytes : bytes.subarray(0, cut % (bytes.length + 1));
    });
}
