// Muting a chat: the user's own setting, kept by the server on their membership.
// A chat's mute is its state's `mutedUntil` in the ChatsStore (Unix ms, or null),
// taken from the chat list, from GET /chats/{id} and the mute / unmute answers,
// and from `muted` frames (the user muted or unmuted it on any device; without
// `muted_until`: unmuted). A muted chat still counts unread (its badge stays,
// greyed, with a 🔕 in the list) but raises nothing: the page title leaves it out.
// A mute whose time has passed counts as none.

import { clock, dayKey, dayLabel } from '../lib/time'
import type { ChatState } from './chats'

/** `muted_until` of a mute for good (9999-12-31 23:59:59.999 UTC). */
export const MUTED_FOREVER = 253402300799999

const HOUR = 3_600_000

/** What the mute menu offers: for how long (ms), null for good. */
export const MUTE_CHOICES: readonly { label: string; ms: number | null }[] = [
  { label: 'For 1 hour', ms: HOUR },
  { label: 'For 8 hours', ms: 8 * HOUR },
  { label: 'For 1 day', ms: 24 * HOUR },
  { label: 'Forever', ms: null },
]

/** The chat is muted at `now` (a mute whose time has passed is none). */
export function isMuted(c: Pick<ChatState, 'mutedUntil'> | undefined, now: number): boolean {
  return !!c && c.mutedUntil !== null && c.mutedUntil > now
}

/** "Muted", "Muted until 14:05" (today), "Muted until Mon, 3 Mar 14:05". */
export function mutedText(until: number, now: number = Date.now()): string {
  if (until >= MUTED_FOREVER) return 'Muted'
  const day = dayKey(until) === dayKey(now) ? '' : `${dayLabel(until, now)} `
  return `Muted until ${day}${clock(until)}`
}
