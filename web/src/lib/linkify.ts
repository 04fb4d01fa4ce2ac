// Splits message text into plain-text and link segments. Only http(s) URLs become
// links; everything else stays text (rendered as DOM text nodes, never as HTML).

export type Segment = { kind: 'text'; text: string } | { kind: 'link'; text: string; href: string }

// A URL runs to the next whitespace or angle bracket / quote; trailing punctuation
// that usually ends a sentence is left out of it.
const URL_RE = /\bhttps?:\/\/[^\s<>"'`]+/gi
const TRAILING = /[.,;:!?)\]}]+$/

/** The href for a candidate URL, or null when it is not a well-formed http(s) URL. */
export function safeHref(candidate: string): string | null {
  let u: URL
  try {
    u = new URL(candidate)
  } catch {
    return null
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return null
  if (!u.hostname) return null
  return u.href
}

export function linkify(text: string): Segment[] {
  const out: Segment[] = []
  let last = 0
  const push = (t: string) => {
    if (!t) return
    const prev = out[out.length - 1]
    if (prev && prev.kind === 'text') prev.text += t
    else out.push({ kind: 'text', text: t })
  }
  for (const m of text.matchAll(URL_RE)) {
    const start = m.index ?? 0
    let raw = m[0]
    const trail = raw.match(TRAILING)
    if (trail) {
      // Keep a closing parenthesis that has its opening one inside the URL.
      let cut = trail[0]
      if (cut.startsWith(')') && raw.includes('(')) cut = cut.slice(1)
      raw = raw.slice(0, raw.length - cut.length)
    }
    const href = safeHref(raw)
    push(text.slice(last, start))
    if (href) out.push({ kind: 'link', text: raw, href })
    else push(raw)
    last = start + raw.length
  }
  push(text.slice(last))
  return out
}
