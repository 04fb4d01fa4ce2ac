// Fails when package-lock.json would fetch anything from outside the npm registry
// (git, tarball URLs, local files): CI reaches the registry and nothing else.
import { readFileSync } from 'node:fs'

const REGISTRY = 'https://registry.npmjs.org/'
const lock = JSON.parse(readFileSync(new URL('../package-lock.json', import.meta.url), 'utf8'))
const bad = []
for (const [path, p] of Object.entries(lock.packages ?? {})) {
  if (path === '' || p.link) continue
  if (p.resolved && !p.resolved.startsWith(REGISTRY)) bad.push(`${path}: resolved ${p.resolved}`)
  if (typeof p.version === 'string' && /[:/]/.test(p.version)) bad.push(`${path}: version ${p.version}`)
  if (!p.integrity) bad.push(`${path}: no integrity hash`)
}
if (bad.length) {
  console.error(`package-lock.json has non-registry sources:\n  ${bad.join('\n  ')}`)
  process.exit(1)
}
console.log(`package-lock.json: ${Object.keys(lock.packages ?? {}).length - 1} packages, all from the registry`)
