// Generates the client's wire types from the two contracts, or checks that the
// committed ones are current:
//
//   gateway/src/openapi.json  --openapi-typescript-------->  src/api/openapi.gen.ts
//   docs/frames.schema.json   --json-schema-to-typescript->  src/api/frames.gen.ts
//
//   node scripts/gen-api.mjs           (npm run gen:api)    writes both files
//   node scripts/gen-api.mjs --check   (npm run check:api)  writes them to a temporary
//                                       directory and fails when either differs
//
// The frame schema takes the shapes it shares with the HTTP API (Id, Message, Chat,
// ...) from the OpenAPI document by `$ref`, each with a `tsType` naming the generated
// OpenAPI type: the frame types import those instead of declaring copies. Every such
// `$ref` must point at something the document has.

import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import openapiTS, { astToString } from 'openapi-typescript'
import { compile } from 'json-schema-to-typescript'

const web = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const root = resolve(web, '..')
const OPENAPI = join(root, 'gateway/src/openapi.json')
const FRAMES = join(root, 'docs/frames.schema.json')
const OUT = { openapi: 'src/api/openapi.gen.ts', frames: 'src/api/frames.gen.ts' }

const rel = (p) => relative(root, p)

function header(source, tool) {
  return [
    `// GENERATED from ${rel(source)} by ${tool} (web/scripts/gen-api.mjs): do not edit.`,
    '// Change the source, then regenerate with `npm run gen:api` in web/ and commit both;',
    '// `npm run check:api` (run by web/test.sh) fails while this file is not current.',
    '',
  ].join('\n')
}

async function genOpenapi() {
  const ast = await openapiTS(pathToFileURL(OPENAPI), { silent: true })
  return header(OPENAPI, 'openapi-typescript') + '\n' + astToString(ast)
}

/** Resolves a JSON pointer (`#/a/b`) in a document; undefined when it is not there. */
function pointer(doc, ptr) {
  let at = doc
  for (const raw of ptr.replace(/^#\/?/, '').split('/').filter(Boolean)) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~')
    if (at === null || typeof at !== 'object' || !(key in at)) return undefined
    at = at[key]
  }
  return at
}

async function genFrames() {
  const schema = JSON.parse(readFileSync(FRAMES, 'utf8'))
  const problems = []
  // Shapes taken from the OpenAPI document: checked here, typed by `tsType`.
  for (const [name, def] of Object.entries(schema.$defs ?? {})) {
    if (typeof def.$ref !== 'string' || def.$ref.startsWith('#')) continue
    const [file, ptr = ''] = def.$ref.split('#')
    const target = resolve(dirname(FRAMES), file)
    if (target !== OPENAPI) problems.push(`$defs/${name}: $ref ${def.$ref} is not into ${rel(OPENAPI)}`)
    else if (pointer(JSON.parse(readFileSync(target, 'utf8')), ptr) === undefined) {
      problems.push(`$defs/${name}: $ref ${def.$ref}: ${rel(OPENAPI)} has nothing at #${ptr}`)
    }
    if (typeof def.tsType !== 'string') problems.push(`$defs/${name}: a $ref into the OpenAPI document needs a tsType`)
    delete def.$ref
  }
  if (problems.length) throw new Error(`${rel(FRAMES)}:\n  ${problems.join('\n  ')}`)
  const body = await compile(schema, 'WebSocketFrames', {
    bannerComment: '',
    // What the server sends has no other fields; what a client sends has none either
    // (the server ignores unknown ones, but this client sends none).
    additionalProperties: false,
    unreachableDefinitions: false,
    declareExternallyReferenced: true,
    format: true,
    style: { semi: false, singleQuote: true, printWidth: 100 },
  })
  return (
    header(FRAMES, 'json-schema-to-typescript') +
    "\nimport type { components } from './openapi.gen'\n\ntype Schemas = components['schemas']\n\n" +
    body
  )
}

/** The first line where two texts differ, for the failure message. */
function firstDifference(want, have) {
  const a = want.split('\n')
  const b = have.split('\n')
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    if (a[i] !== b[i]) {
      return `line ${i + 1}:\n    committed: ${b[i] === undefined ? '(end of file)' : b[i].trim()}\n    generated: ${a[i] === undefined ? '(end of file)' : a[i].trim()}`
    }
  }
  return ''
}

const check = process.argv.includes('--check')
let generated
try {
  generated = { openapi: await genOpenapi(), frames: await genFrames() }
} catch (e) {
  console.error(`gen-api: cannot generate the API types: ${e?.message ?? e}`)
  process.exit(1)
}

if (!check) {
  for (const [k, text] of Object.entries(generated)) {
    writeFileSync(join(web, OUT[k]), text)
    console.log(`gen-api: wrote web/${OUT[k]}`)
  }
} else {
  const tmp = mkdtempSync(join(tmpdir(), 'chat-gen-api-'))
  const stale = []
  try {
    for (const [k, text] of Object.entries(generated)) {
      const fresh = join(tmp, OUT[k].split('/').pop())
      writeFileSync(fresh, text)
      const committed = join(web, OUT[k])
      if (!existsSync(committed)) {
        stale.push(`web/${OUT[k]} is missing`)
        continue
      }
      const have = readFileSync(committed, 'utf8')
      const want = readFileSync(fresh, 'utf8')
      if (have !== want) {
        const source = k === 'openapi' ? OPENAPI : FRAMES
        stale.push(`web/${OUT[k]} is not what ${rel(source)} generates; first difference at ${firstDifference(want, have)}`)
      }
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true })
  }
  if (stale.length) {
    console.error(`check:api: the generated API types are out of date:\n  ${stale.join('\n  ')}`)
    console.error('Run `npm run gen:api` in web/, fix what no longer type-checks, and commit the generated files.')
    process.exit(1)
  }
  console.log(`check:api: web/${OUT.openapi} and web/${OUT.frames} are current`)
}
