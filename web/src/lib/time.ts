// Times and days as the user sees them, in the browser's local time zone.

const pad = (n: number) => String(n).padStart(2, '0')

/** "14:05": fixed width, so times line up in the message column. */
export function clock(ms: number): string {
  const d = new Date(ms)
  return `${pad(d.getHours())}:${pad(d.getMinutes())}`
}

/** A key that is equal for two instants of the same local day. */
export function dayKey(ms: number): string {
  const d = new Date(ms)
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`
}

/** "Today", "Yesterday" or a date, for day separators. */
export function dayLabel(ms: number, now: number = Date.now()): string {
  if (dayKey(ms) === dayKey(now)) return 'Today'
  if (dayKey(ms) === dayKey(now - 86_400_000)) return 'Yesterday'
  const d = new Date(ms)
  const sameYear = d.getFullYear() === new Date(now).getFullYear()
  return d.toLocaleDateString(undefined, {
    weekday: 'short',
    day: 'numeric',
    month: 'short',
    year: sameYear ? undefined : 'numeric',
  })
}

/** Short time for the chat list: a clock today, else a date. */
export function listTime(ms: number, now: number = Date.now()): string {
  if (dayKey(ms) === dayKey(now)) return clock(ms)
  const d = new Date(ms)
  return `${pad(d.getDate())}.${pad(d.getMonth() + 1)}.${String(d.getFullYear()).slice(2)}`
}

/**
 * When a user was last seen, after "last seen": "just now", "5 minutes ago",
 * "today at 14:05", "yesterday at 09:30", else the day ("Mon, 3 Mar").
 */
export function seenAgo(ms: number, now: number = Date.now()): string {
  const minutes = Math.floor((now - ms) / 60_000)
  if (minutes < 1) return 'just now'
  if (minutes < 60) return minutes === 1 ? '1 minute ago' : `${minutes} minutes ago`
  if (dayKey(ms) === dayKey(now)) return `today at ${clock(ms)}`
  if (dayKey(ms) === dayKey(now - 86_400_000)) return `yesterday at ${clock(ms)}`
  return dayLabel(ms, now)
}
