// What an avatar shows: the user's image (by its tag), else initials on a colour
// that depends only on the id, so a user (or a group) keeps its colour everywhere
// and across reloads.

import type { Id } from '../api/types'

/** Backgrounds for initials, each dark enough for white text. */
export const AVATAR_COLORS = [
  '#c2474a', '#c0621f', '#8d6e12', '#3f8a46', '#1f8577', '#2874b2',
  '#4a5fc9', '#7450c4', '#a2478f', '#5c6b80',
] as const

/** FNV-1a over the UTF-16 code units: small, stable, well spread. */
function hash(s: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  return h >>> 0
}

export function avatarColor(id: Id): string {
  return AVATAR_COLORS[hash(id) % AVATAR_COLORS.length]!
}

const segmenter =
  typeof Intl !== 'undefined' && 'Segmenter' in Intl ? new Intl.Segmenter(undefined, { granularity: 'grapheme' }) : null

/** The first character as the reader sees it (a flag or a family emoji is one). */
function firstGrapheme(s: string): string {
  if (segmenter) {
    for (const g of segmenter.segment(s)) return g.segment
    return ''
  }
  return Array.from(s)[0] ?? ''
}

/** "Alice Liddell" → "AL", "bob" → "B", "  " → "?". */
export function initials(name: string): string {
  const words = name.trim().split(/\s+/u).filter(Boolean)
  if (!words.length) return '?'
  const first = firstGrapheme(words[0]!)
  const last = words.length > 1 ? firstGrapheme(words[words.length - 1]!) : ''
  return (first + last).toLocaleUpperCase()
}

/** The image of a user's avatar: public and cacheable forever while `tag` is current. */
export function avatarUrl(userId: Id, tag: string): string {
  return `/api/v1/users/${encodeURIComponent(userId)}/avatar?v=${encodeURIComponent(tag)}`
}
