// Checks WebSocket frames against docs/frames.schema.json, for the tests (the
// end-to-end run checks every frame the browser sends and receives; Vitest checks
// examples). A small validator of the JSON Schema keywords the frame schema and the
// OpenAPI shapes it refers to use: $ref (in the file, or into
// gateway/src/openapi.json), oneOf, type, const, enum, properties, required,
// additionalProperties, items, minimum, minLength, maxLength, pattern. A keyword it
// does not know is an error, so that the schema cannot quietly outgrow it.
//
// Strict by default, like the server's check of its HTTP answers against the OpenAPI
// document (chat/tests/common/schema.rs): an object schema without
// `additionalProperties` (and with `properties` or `required`) admits no property it
// does not list.

import { readFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..')
export const FRAMES_SCHEMA = resolve(root, 'docs/frames.schema.json')

const ANNOTATIONS = new Set(['$schema', '$defs', 'title', 'description', 'tsType', 'format', 'example', 'examples', 'default'])
const CHECKED = new Set([
  '$ref', 'oneOf', 'type', 'const', 'enum', 'properties', 'required', 'additionalProperties',
  'items', 'minimum', 'minLength', 'maxLength', 'pattern',
])

function pointer(doc, ptr, where) {
  let at = doc
  for (const raw of ptr.replace(/^\/?/, '').split('/').filter(Boolean)) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~')
    if (at === null || typeof at !== 'object' || !(key in at)) throw new Error(`${where}: no ${ptr}`)
    at = at[key]
  }
  return at
}

function typeOk(type, v) {
  switch (type) {
    case 'object':
      return v !== null && typeof v === 'object' && !Array.isArray(v)
    case 'array':
      return Array.isArray(v)
    case 'string':
      return typeof v === 'string'
    case 'integer':
      return Number.isInteger(v)
    case 'number':
      return typeof v === 'number'
    case 'boolean':
      return typeof v === 'boolean'
    case 'null':
      return v === null
    default:
      throw new Error(`unknown type ${type}`)
  }
}

/** A validator for the frame schema: `check(value, '#/$defs/ServerFrame')` gives the problems found. */
export function frameValidator({ schemaFile = FRAMES_SCHEMA, strict = true } = {}) {
  const docs = new Map()
  const load = (file) => {
    if (!docs.has(file)) docs.set(file, JSON.parse(readFileSync(file, 'utf8')))
    return docs.get(file)
  }
  load(schemaFile)

  /** Problems of `v` against `s` (a schema within `file`), at JSON path `at`. */
  function validate(v, s, file, at, out) {
    for (const k of Object.keys(s)) {
      if (!CHECKED.has(k) && !ANNOTATIONS.has(k)) throw new Error(`${file}: schema keyword ${k} is not supported`)
    }
    if (s.$ref !== undefined) {
      const [f, ptr = ''] = s.$ref.split('#')
      const target = f ? resolve(dirname(file), f) : file
      validate(v, pointer(load(target), ptr, `${s.$ref} from ${file}`), target, at, out)
    }
    if (s.oneOf) {
      const passing = s.oneOf.map((sub) => {
        const errs = []
        validate(v, sub, file, at, errs)
        return errs
      })
      const n = passing.filter((e) => e.length === 0).length
      if (n !== 1) {
        if (n > 1) out.push(`${at}: matches ${n} of oneOf`)
        else {
          // Name the closest alternative: the frame of the same `type`, if any.
          const consts = s.oneOf.map((sub) => {
            const d = sub.$ref?.startsWith('#') ? pointer(load(file), sub.$ref.slice(1), file) : sub
            return d?.properties?.type?.const
          })
          const sameType = v && typeof v === 'object' ? consts.indexOf(v.type) : -1
          if (sameType >= 0) out.push(...passing[sameType])
          else if (consts.every((c) => c !== undefined)) {
            out.push(`${at}.type: ${JSON.stringify(v?.type)} is none of ${consts.join(', ')}`)
          } else {
            const best = passing.reduce((a, b) => (b.length < a.length ? b : a))
            out.push(...(best.length ? best : [`${at}: matches none of oneOf`]))
          }
        }
      }
    }
    if (s.type !== undefined) {
      const types = Array.isArray(s.type) ? s.type : [s.type]
      if (!types.some((t) => typeOk(t, v))) {
        out.push(`${at}: ${JSON.stringify(v)} is not ${types.join(' or ')}`)
        return
      }
    }
    if ('const' in s && v !== s.const) out.push(`${at}: ${JSON.stringify(v)} is not ${JSON.stringify(s.const)}`)
    if (s.enum && !s.enum.includes(v)) out.push(`${at}: ${JSON.stringify(v)} is not one of the enum`)
    if (typeof v === 'number') {
      if (s.minimum !== undefined && v < s.minimum) out.push(`${at}: ${v} < ${s.minimum}`)
    }
    if (typeof v === 'string') {
      if (s.minLength !== undefined && v.length < s.minLength) out.push(`${at}: shorter than ${s.minLength}`)
      if (s.maxLength !== undefined && v.length > s.maxLength) out.push(`${at}: longer than ${s.maxLength}`)
      if (s.pattern !== undefined && !new RegExp(s.pattern, 'u').test(v)) out.push(`${at}: does not match ${s.pattern}`)
    }
    if (Array.isArray(v) && s.items) v.forEach((x, i) => validate(x, s.items, file, `${at}[${i}]`, out))
    if (v !== null && typeof v === 'object' && !Array.isArray(v) && (s.properties || s.required)) {
      const closed = s.additionalProperties === false || (strict && s.additionalProperties === undefined)
      for (const r of s.required ?? []) if (!(r in v)) out.push(`${at}: required property ${r} is missing`)
      const props = s.properties ?? {}
      for (const [k, x] of Object.entries(v)) {
        if (props[k]) validate(x, props[k], file, `${at}.${k}`, out)
        else if (closed) out.push(`${at}: property ${k} is not in the schema`)
      }
    }
  }

  return {
    /** The problems of `value` against the schema at `ptr` of the frame schema (none: valid). */
    check(value, ptr = '#') {
      const out = []
      validate(value, pointer(load(schemaFile), ptr.replace(/^#/, ''), schemaFile), schemaFile, '$', out)
      return out
    },
  }
}
