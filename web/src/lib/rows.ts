// The rows of the message pane: day separators, the "new messages" line, stored
// messages and the user's pending ones. Pure, so it is tested without a DOM.

import type { Id, Message } from '../api/types'
import type { PendingMessage } from '../stores/timeline'
import { dayKey, dayLabel } from './time'

export type Row =
  | { kind: 'day'; key: string; label: string }
  | { kind: 'unread'; key: string }
  | { kind: 'msg'; key: string; message: Message; showAuthor: boolean }
  | { kind: 'pending'; key: string; pending: PendingMessage; showAuthor: boolean }

/** Messages closer than this from the same author are grouped under one name. */
const GROUP_MS = 5 * 60_000

export function buildRows(
  messages: Message[],
  pending: PendingMessage[],
  separatorSeq: number,
  me: Id,
  now: number = Date.now(),
): Row[] {
  const rows: Row[] = []
  let day = ''
  let prevSender: Id | null = null
  let prevAt = 0
  let unreadPlaced = false
  for (const m of messages) {
    const k = dayKey(m.created_at)
    let newGroup = false
    if (k !== day) {
      rows.push({ kind: 'day', key: `d${k}`, label: dayLabel(m.created_at, now) })
      day = k
      newGroup = true
    }
    if (!unreadPlaced && m.seq > separatorSeq && m.sender_id !== me) {
      rows.push({ kind: 'unread', key: 'unread' })
      unreadPlaced = true
      newGroup = true
    }
    const showAuthor = newGroup || m.sender_id !== prevSender || m.created_at - prevAt > GROUP_MS
    rows.push({ kind: 'msg', key: `s${m.seq}`, message: m, showAuthor })
    prevSender = m.sender_id
    prevAt = m.created_at
  }
  for (const p of pending) {
    const k = dayKey(p.createdAt)
    let newGroup = false
    if (k !== day) {
      rows.push({ kind: 'day', key: `d${k}`, label: dayLabel(p.createdAt, now) })
      day = k
      newGroup = true
    }
    rows.push({ kind: 'pending', key: `p${p.clientMsgId}`, pending: p, showAuthor: newGroup || prevSender !== me })
    prevSender = me
  }
  return rows
}
