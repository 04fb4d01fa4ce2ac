// The WebSocket frame schema (docs/frames.schema.json, the source of
// src/api/frames.gen.ts) against what it describes: the serde types of
// core/src/wire.rs (every frame type, every field, which ones are always there) and
// the tables of docs/protocol.md. The generated files being current is
// `npm run check:api`'s job; the frames the server really sends are checked by the
// end-to-end run.

import { readFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { frameValidator } from '../scripts/frame-schema.mjs'
import type { ClientFrame, ServerFrame } from '../src/api/types'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..')
const read = (rel: string) => readFileSync(resolve(root, rel), 'utf8')
const schema = JSON.parse(read('docs/frames.schema.json'))
const wire = read('core/src/wire.rs')
const protocol = read('docs/protocol.md')

interface Shape {
  /** Field names on the wire. */
  fields: string[]
  /** Fields always present (server frames) or that must be sent (client frames). */
  required: string[]
}

const snake = (s: string) => s.replace(/[A-Z]/g, (c, i) => (i ? '_' : '') + c.toLowerCase())

/**
 * The variants of a `#[serde(tag = "type", rename_all = "snake_case")]` enum of
 * wire.rs, by wire type. `required` as serde has it: for what the server writes, a
 * field without `skip_serializing_if`; for what it reads, one that is neither an
 * Option nor `default`.
 */
function rustEnum(name: string, side: 'reads' | 'writes'): Map<string, Shape> {
  const start = wire.indexOf(`pub enum ${name} {`)
  if (start < 0) throw new Error(`core/src/wire.rs has no enum ${name}`)
  const lines = wire.slice(start).split('\n')
  const out = new Map<string, Shape>()
  let current: Shape | null = null
  let attrs = ''
  for (const line of lines.slice(1)) {
    if (line === '}') break
    const variant = line.match(/^ {4}([A-Z]\w*)\s*(\{|,)/)
    if (variant) {
      current = { fields: [], required: [] }
      out.set(snake(variant[1]), current)
      attrs = ''
      continue
    }
    if (/^ {8}#\[serde\(/.test(line)) {
      attrs += line
      continue
    }
    const field = line.match(/^ {8}(?:pub )?(\w+): (.+),$/)
    if (field && current) {
      const wireName = attrs.match(/rename = "(\w+)"/)?.[1] ?? field[1]
      current.fields.push(wireName)
      const optional =
        side === 'writes'
          ? attrs.includes('skip_serializing_if')
          : field[2].startsWith('Option<') || /\bdefault\b/.test(attrs)
      if (!optional) current.required.push(wireName)
      attrs = ''
    }
  }
  return out
}

/** The frames of one side of the schema, by type. */
function schemaFrames(def: 'ClientFrame' | 'ServerFrame'): Map<string, Shape> {
  const out = new Map<string, Shape>()
  for (const alt of schema.$defs[def].oneOf as { $ref: string }[]) {
    const d = schema.$defs[alt.$ref.replace('#/$defs/', '')]
    const type = d.properties.type.const as string
    out.set(type, {
      fields: Object.keys(d.properties).filter((k) => k !== 'type'),
      required: (d.required as string[]).filter((k) => k !== 'type'),
    })
  }
  return out
}

const sorted = (m: Map<string, Shape>) =>
  Object.fromEntries(
    [...m.entries()]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, s]) => [k, { fields: [...s.fields].sort(), required: [...s.required].sort() }]),
  )

/** The frame types in the first column of the protocol.md table under `heading`. */
function tableTypes(heading: string): string[] {
  const at = protocol.indexOf(heading)
  if (at < 0) throw new Error(`docs/protocol.md has no "${heading}"`)
  const rows = protocol.slice(at).split('\n').slice(1)
  const types: string[] = []
  let inTable = false
  for (const row of rows) {
    if (!row.startsWith('|')) {
      if (inTable) break
      continue
    }
    inTable = true
    const first = row.split('|')[1].trim().match(/^`(\w+)`$/)
    if (first) types.push(first[1])
  }
  return types.sort()
}

describe('docs/frames.schema.json', () => {
  it('has the client frames of core/src/wire.rs, field by field', () => {
    const rust = rustEnum('ClientFrame', 'reads')
    const listed = wire.match(/pub const TYPES: &'static \[&'static str\] = &\[([^\]]*)\]/)?.[1] ?? ''
    expect([...listed.matchAll(/"(\w+)"/g)].map((m) => m[1]).sort()).toEqual([...rust.keys()].sort())
    expect(sorted(schemaFrames('ClientFrame'))).toEqual(sorted(rust))
  })

  it('has the server frames and events of core/src/wire.rs, field by field', () => {
    const rust = new Map([...rustEnum('ServerFrame', 'writes'), ...rustEnum('Event', 'writes')])
    expect(rust.size).toBe(28)
    expect(sorted(schemaFrames('ServerFrame'))).toEqual(sorted(rust))
  })

  it('has the frame types docs/protocol.md lists', () => {
    expect(tableTypes('## Client → server frames')).toEqual([...schemaFrames('ClientFrame').keys()].sort())
    expect(tableTypes('## Server → client frames')).toEqual([...schemaFrames('ServerFrame').keys()].sort())
  })

  it('accepts the frames the client builds and refuses malformed ones', () => {
    const v = frameValidator()
    const message = {
      id: '7', chat_id: '5', seq: 3, sender_id: '2', client_msg_id: 'k-1', text: 'hi',
      reply_to_seq: 2, created_at: 1, edited_at: 2, deleted: false, pts: 9,
    }
    const user = { id: '2', name: 'bob', display_name: 'Bob B.', about: 'line\nbreak', created_at: 1, updated_at: 2 }
    const client: ClientFrame[] = [
      { type: 'auth', token: 'jwt' },
      { type: 'subscribe', chat_id: '5', since_seq: 3, since_pts: 9 },
      { type: 'send', chat_id: '5', client_msg_id: 'k-2', text: 'yes', reply_to_seq: 3 },
      { type: 'edit', chat_id: '5', seq: 3, text: 'x', ref: 'e1' },
      { type: 'forward', from_chat_id: '5', seq: 3, to_chat_id: '6', client_msg_id: 'f-1' },
      { type: 'typing', chat_id: '5' },
      { type: 'typing', chat_id: '5', ref: 'typing:5:1' },
      { type: 'get_presence', chat_id: '5', ref: 'presence:5:2' },
      { type: 'react', chat_id: '5', seq: 3, emoji: '👍', ref: 'react-1' },
      { type: 'react', chat_id: '5', seq: 3, emoji: '❤️', remove: true, ref: 'unreact-2' },
      { type: 'sync_profiles' },
      { type: 'sync_profiles', since: 1_700_000_000_000 },
      { type: 'ping' },
    ]
    for (const f of client) expect(v.check(f, '#/$defs/ClientFrame'), f.type).toEqual([])
    const server: ServerFrame[] = [
      { type: 'ready', user_id: '2', gateway: 'standalone-1' },
      { type: 'subscribed', chat_id: '5', last_seq: 3, last_pts: 9, read_seq: 1 },
      { type: 'ack', chat_id: '5', client_msg_id: 'k-1', seq: 3, message, duplicate: false },
      { type: 'error', code: 'too_many_requests', message: 'slow down', chat_id: '5', retry_after_ms: 100 },
      { type: 'message', message },
      { type: 'reaction', chat_id: '5', seq: 3, user_id: '2', emoji: '👍', added: true, pts: 10 },
      {
        type: 'ack', chat_id: '5', ref: 'react-1', seq: 3, duplicate: false,
        message: { ...message, pts: 10, reactions: [{ emoji: '👍', count: 2, mine: true }, { emoji: '🎉', count: 1 }] },
      },
      { type: 'rejected', chat_id: '5', ref: 'react-1', code: 'quota_exceeded', message: 'at most 3 reactions of yours on a message' },
      { type: 'pong' },
      { type: 'typing', chat_id: '5', user_id: '2', expires_in_ms: 6000 },
      { type: 'error', code: 'silenced', message: 'you may not post in this chat', chat_id: '5' },
      { type: 'user_updated', user },
      { type: 'user_updated', user: { ...user, avatar: 'a1b2' } },
      { type: 'profiles', users: [user], as_of: 1_700_000_000_000, complete: true },
      { type: 'profiles', users: [], as_of: 1_700_000_000_000, complete: false },
      { type: 'error', code: 'silenced', message: 'you may not post in this chat', chat_id: '5', ref: 'typing:5:1' },
      { type: 'presence', chat_id: '5', user_id: '2', status: 'online' },
      { type: 'presence', chat_id: '5', user_id: '2', status: 'offline', last_seen: 1_700_000_000_000 },
      { type: 'presence', chat_id: '5', user_id: '2', status: 'hidden' },
      { type: 'online_count', chat_id: '6', online: 140 },
      {
        type: 'presence_list',
        chat_id: '5',
        users: [
          { user_id: '1', status: 'online' },
          { user_id: '2', status: 'offline', last_seen: 1_700_000_000_000 },
          { user_id: '3', status: 'hidden' },
        ],
        online: 1,
        ref: 'presence:5:2',
      },
      { type: 'presence_list', chat_id: '6', users: [], online: 140 },
      { type: 'presence_visibility', visibility: 'contacts' },
    ]
    for (const f of server) expect(v.check(f, '#/$defs/ServerFrame'), f.type).toEqual([])

    expect(v.check({ type: 'subscribed', chat_id: '5', last_seq: 3, read_seq: 1 }, '#/$defs/ServerFrame')).toEqual([
      '$: required property last_pts is missing',
    ])
    expect(v.check({ type: 'message', message: { ...message, extra: 1 } }, '#/$defs/ServerFrame')).toEqual([
      '$.message: property extra is not in the schema',
    ])
    expect(v.check({ type: 'error', code: 'nope', message: '' }, '#/$defs/ServerFrame')).toEqual([
      '$.code: "nope" is not one of the enum',
    ])
    expect(v.check({ type: 'send', chat_id: 'x', client_msg_id: 'k', text: '' }, '#/$defs/ClientFrame')).toEqual([
      '$.chat_id: does not match ^[0-9]+$',
    ])
    expect(v.check({ type: 'typing', chat_id: '5', user_id: '2' }, '#/$defs/ServerFrame')).toEqual([
      '$: required property expires_in_ms is missing',
    ])
    expect(v.check({ type: 'typing', chat_id: '5', text: 'h' }, '#/$defs/ClientFrame')).toEqual([
      '$: property text is not in the schema',
    ])
    expect(v.check({ type: 'presence', chat_id: '5', user_id: '2', status: 'away' }, '#/$defs/ServerFrame')).toEqual([
      '$.status: "away" is not one of the enum',
    ])
    expect(v.check({ type: 'presence_visibility', visibility: 'friends' }, '#/$defs/ServerFrame')).toEqual([
      '$.visibility: "friends" is not one of the enum',
    ])
    const { display_name: _, ...unnamed } = user
    expect(v.check({ type: 'user_updated', user: unnamed }, '#/$defs/ServerFrame')).toEqual([
      '$.user: required property display_name is missing',
    ])
    expect(v.check({ type: 'hello' }, '#/$defs/ClientFrame')[0]).toMatch(/^\$\.type: "hello" is none of auth, /)
  })
})
