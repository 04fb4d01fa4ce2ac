// The matched parts of a search hit's text, as pieces to render as text nodes
// (marked or not; never HTML). The server gives [start, end) ranges in UTF-16 code
// units, which are JavaScript string indices; they are checked here anyway (a range
// out of bounds, reversed, overlapping or cutting an emoji in half is mended or
// dropped), so no input can break the rendering.

export type Range = [start: number, end: number]

export interface Piece {
  text: string
  mark: boolean
}

const isHigh = (c: number) => c >= 0xd800 && c <= 0xdbff
const isLow = (c: number) => c >= 0xdc00 && c <= 0xdfff

/** Moves an index off the middle of a surrogate pair: back (`down`) or forward. */
function snap(text: string, i: number, down: boolean): number {
  if (i > 0 && i < text.length && isLow(text.charCodeAt(i)) && isHigh(text.charCodeAt(i - 1))) {
    return down ? i - 1 : i + 1
  }
  return i
}

/** The ranges in bounds, whole code points, non-empty, sorted and merged. */
export function normalizeRanges(text: string, ranges: readonly (readonly number[])[]): Range[] {
  const out: Range[] = []
  const ok = ranges
    .filter((r) => r.length >= 2 && Number.isInteger(r[0]) && Number.isInteger(r[1]))
    .map((r): Range => [
      snap(text, Math.max(0, Math.min(text.length, r[0]!)), true),
      snap(text, Math.max(0, Math.min(text.length, r[1]!)), false),
    ])
    .filter(([s, e]) => s < e)
    .sort((a, b) => a[0] - b[0] || a[1] - b[1])
  for (const [s, e] of ok) {
    const last = out[out.length - 1]
    if (last && s <= last[1]) last[1] = Math.max(last[1], e)
    else out.push([s, e])
  }
  return out
}

/** The text cut into plain and marked pieces, in order; joined they are the text. */
export function highlightPieces(text: string, ranges: readonly (readonly number[])[]): Piece[] {
  const out: Piece[] = []
  let at = 0
  for (const [s, e] of normalizeRanges(text, ranges)) {
    if (s > at) out.push({ text: text.slice(at, s), mark: false })
    out.push({ text: text.slice(s, e), mark: true })
    at = e
  }
  if (at < text.length || !out.length) out.push({ text: text.slice(at), mark: false })
  return out
}

/**
 * A long text cut to about `max` code units around its first match, with "…" where
 * it was cut, and the ranges moved to match. A short text is returned as it is.
 */
export function excerpt(
  text: string,
  ranges: readonly (readonly number[])[],
  max = 240,
  lead = 60,
): { text: string; ranges: Range[] } {
  const rs = normalizeRanges(text, ranges)
  if (text.length <= max) return { text, ranges: rs }
  const first = rs[0]?.[0] ?? 0
  let start = Math.max(0, Math.min(first - lead, text.length - max))
  // Start at a word when one begins shortly after the cut.
  if (start > 0) {
    const space = text.slice(start, Math.min(first, start + 20)).search(/\s\S/)
    if (space >= 0) start += space + 1
  }
  start = snap(text, start, false)
  const end = snap(text, Math.min(text.length, start + max), true)
  const head = start > 0 ? '…' : ''
  const tail = end < text.length ? '…' : ''
  const shift = head.length - start
  const moved = rs
    .map(([s, e]): Range => [Math.max(s, start) + shift, Math.min(e, end) + shift])
    .filter(([s, e]) => s < e)
  return { text: head + text.slice(start, end) + tail, ranges: moved }
}
