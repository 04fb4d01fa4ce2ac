// Mentions in a message's text: `@name` names a user by their login name, as the
// server reads it (core/src/rules.rs `mentioned_names`): `@` at the start or after
// a character that is not part of a name, then letters, digits, `_`, `-` and `.`,
// trailing `.` and `-` being punctuation; names compare case-insensitively. Only
// the names of the users the server resolved (the message's `mentions`) are
// marked: any other `@text` stays plain text. Pieces are rendered as text nodes,
// never HTML.

import type { Id } from '../api/types'

/** A piece of text: plain, or a mention of another user, or of the reader. */
export interface MentionPiece {
  text: string
  mention?: 'other' | 'me'
}

/** Mentioned login names, lower-cased, to whether the name is the reader's. */
export type MentionNames = ReadonlyMap<string, boolean>

export const NO_MENTIONS: MentionNames = new Map()

const NAME_CHAR = /[\p{Alphabetic}\p{N}_.-]$/u
const MENTION_RE = /@([\p{Alphabetic}\p{N}_.-]+)/gu

/**
 * The names to mark in a message mentioning `ids` (its `mentions`): each user's
 * login name (`login`: '' while unknown, left out), true for the reader's.
 */
export function mentionNames(ids: readonly Id[] | undefined, me: Id, login: (id: Id) => string): MentionNames {
  if (!ids?.length) return NO_MENTIONS
  const out = new Map<string, boolean>()
  for (const id of ids) {
    const name = login(id)
    if (name) out.set(name.toLowerCase(), id === me)
  }
  return out
}

/** The text cut at its `@name` tokens that name one of `names`; joined, the pieces are the text. */
export function mentionPieces(text: string, names: MentionNames): MentionPiece[] {
  const out: MentionPiece[] = []
  let at = 0
  if (names.size) {
    for (const m of text.matchAll(MENTION_RE)) {
      const start = m.index ?? 0
      // An `@` inside a word (an email address, `@cat@dog`) starts no mention.
      if (NAME_CHAR.test(text.slice(Math.max(0, start - 2), start))) continue
      const name = m[1]!.replace(/[.-]+$/, '')
      const me = names.get(name.toLowerCase())
      if (me === undefined) continue
      if (start > at) out.push({ text: text.slice(at, start) })
      at = start + 1 + name.length
      out.push({ text: text.slice(start, at), mention: me ? 'me' : 'other' })
    }
  }
  if (at < text.length || !out.length) out.push({ text: text.slice(at) })
  return out
}
