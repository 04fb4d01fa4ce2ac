import { describe, expect, it } from 'vitest'
import { buildRows } from '../src/lib/rows'
import { msg } from './fakes'

const day = 86_400_000

describe('buildRows', () => {
  it('puts a day separator before each new day', () => {
    const a = msg(1, { created_at: new Date(2026, 0, 1, 12).getTime() })
    const b = msg(2, { created_at: new Date(2026, 0, 1, 12).getTime() + 60_000 })
    const c = msg(3, { created_at: new Date(2026, 0, 1, 12).getTime() + day })
    const kinds = buildRows([a, b, c], [], 3, 'me').map((r) => r.kind)
    expect(kinds).toEqual(['day', 'msg', 'msg', 'day', 'msg'])
  })

  it('puts the new-messages line before the first unread message of someone else', () => {
    const rows = buildRows([msg(1), msg(2, { sender_id: 'me' }), msg(3), msg(4)], [], 1, 'me')
    const i = rows.findIndex((r) => r.kind === 'unread')
    expect(rows[i + 1]).toMatchObject({ kind: 'msg', message: { seq: 3 } })
    expect(rows.filter((r) => r.kind === 'unread')).toHaveLength(1)
  })

  it('has no new-messages line when everything is read', () => {
    expect(buildRows([msg(1), msg(2)], [], 2, 'me').some((r) => r.kind === 'unread')).toBe(false)
  })

  it('shows the author once per run of messages', () => {
    const rows = buildRows([msg(1), msg(2), msg(3, { sender_id: 'u3' })], [], 3, 'me').filter((r) => r.kind === 'msg')
    expect(rows.map((r) => (r as { showAuthor: boolean }).showAuthor)).toEqual([true, false, true])
  })

  it('lists pending messages after the stored ones', () => {
    const rows = buildRows([msg(1)], [{ clientMsgId: 'x', chatId: 'c1', text: 'hi', status: 'pending', createdAt: msg(1).created_at }], 1, 'me')
    expect(rows[rows.length - 1]).toMatchObject({ kind: 'pending', key: 'px' })
  })
})
