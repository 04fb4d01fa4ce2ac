import { describe, expect, it } from 'vitest'
import type { Chat, ChatListEntry } from '../src/api/types'
import { ChatsStore, preview } from '../src/stores/chats'
import { msg } from './fakes'

function chat(id: string, at: number, lastSeq = 0, over: Partial<Chat> = {}): Chat {
  return {
    id,
    kind: 'group',
    title: `chat ${id}`,
    created_by: 'u2',
    created_at: at,
    last_seq: lastSeq,
    last_pts: lastSeq,
    member_count: 2,
    last_message: lastSeq ? { seq: lastSeq, sender_id: 'u2', preview: 'x', at, deleted: false } : null,
    ...over,
  }
}
const entry = (c: Chat, readSeq = 0): ChatListEntry => ({ chat: c, role: 'member', read_seq: readSeq, unread: c.last_seq - readSeq, mentions: 0 })

describe('ChatsStore', () => {
  it('orders chats by last activity, newest first, and moves one up on a new message', () => {
    const s = new ChatsStore('me')
    s.setList([entry(chat('a', 100, 1)), entry(chat('b', 300, 1)), entry(chat('c', 200))])
    expect(s.sorted.map((c) => c.chat.id)).toEqual(['b', 'c', 'a'])
    s.onMessage(msg(2, { chat_id: 'a', created_at: 400 }))
    expect(s.sorted.map((c) => c.chat.id)).toEqual(['a', 'b', 'c'])
  })

  it('counts unread as last_seq − read_seq; own messages count as read', () => {
    const s = new ChatsStore('me')
    s.setList([entry(chat('a', 1, 5), 2)])
    expect(s.unread('a')).toBe(3)
    s.onMessage(msg(6, { chat_id: 'a' }))
    expect(s.unread('a')).toBe(4)
    s.onMessage(msg(7, { chat_id: 'a', sender_id: 'me' }))
    expect(s.unread('a')).toBe(0)
    expect(s.unreadNotMuted(0)).toBe(0)
  })

  it('moves the read cursor forward only', () => {
    const s = new ChatsStore('me')
    s.setList([entry(chat('a', 1, 10), 4)])
    expect(s.advanceRead('a', 8)).toBe(true)
    expect(s.advanceRead('a', 6)).toBe(false)
    expect(s.get('a')!.readSeq).toBe(8)
    s.onSubscribed('a', 12, 3)
    expect(s.get('a')!.readSeq).toBe(8)
    expect(s.unread('a')).toBe(4)
  })

  it('keeps the preview of the last message current', () => {
    const s = new ChatsStore('me')
    s.setList([entry(chat('a', 1))])
    s.onMessage(msg(1, { chat_id: 'a', text: 'first  line\nsecond' }))
    expect(s.get('a')!.chat.last_message).toMatchObject({ seq: 1, preview: 'first line second', sender_id: 'u2' })
    s.onEdited('a', 1, 'changed')
    expect(s.get('a')!.chat.last_message!.preview).toBe('changed')
    s.onDeleted('a', 1, 3)
    expect(s.get('a')!.chat.last_message).toMatchObject({ deleted: true, preview: '' })
  })

  it('a replayed older message does not replace the newer preview', () => {
    const s = new ChatsStore('me')
    s.setList([entry(chat('a', 1, 9))])
    s.onMessage(msg(3, { chat_id: 'a' }))
    expect(s.get('a')!.chat.last_message!.seq).toBe(9)
  })

  it('a fresh list keeps newer local state and drops chats the user left', () => {
    const s = new ChatsStore('me')
    s.setList([entry(chat('a', 1, 5), 5), entry(chat('b', 1, 1))])
    s.onMessage(msg(6, { chat_id: 'a' }))
    s.setList([entry(chat('a', 1, 5), 3)])
    expect(s.get('b')).toBeUndefined()
    expect(s.get('a')!.chat.last_seq).toBe(6)
    expect(s.get('a')!.readSeq).toBe(5)
  })

  it('truncates long previews', () => {
    expect(preview('x'.repeat(500)).length).toBeLessThan(130)
  })
})
