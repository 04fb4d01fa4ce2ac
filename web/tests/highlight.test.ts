import { mount } from '@vue/test-utils'
import { describe, expect, it } from 'vitest'
import HighlightedText from '../src/components/HighlightedText'
import { excerpt, highlightPieces, normalizeRanges } from '../src/lib/highlight'

/** The UTF-16 range of `word` in `text`, as the server computes it. */
const at = (text: string, word: string, from = 0): [number, number] => {
  const i = text.indexOf(word, from)
  return [i, i + word.length]
}
const marked = (w: ReturnType<typeof mount>) => w.findAll('mark').map((m) => m.text())

describe('highlight pieces', () => {
  it('cuts the text at UTF-16 ranges, emoji before, between and inside matches', () => {
    const text = '🦘 quokka 👩‍👩‍👧 café 😀quokka😀'
    // Code points would put "quokka" at 2; JavaScript (UTF-16) indices at 3.
    expect(at(text, 'quokka')).toEqual([3, 9])
    const ranges = [at(text, 'quokka'), at(text, 'café'), at(text, 'quokka', 10)]
    const pieces = highlightPieces(text, ranges)
    expect(pieces.map((p) => p.text).join('')).toBe(text)
    expect(pieces.filter((p) => p.mark).map((p) => p.text)).toEqual(['quokka', 'café', 'quokka'])
    expect(pieces[0]).toEqual({ text: '🦘 ', mark: false })
  })

  it('marks a whole emoji, never half of its surrogate pair', () => {
    const text = 'a😀b'
    // [1, 2) and [2, 3) each cut the pair: widened to the whole emoji.
    expect(normalizeRanges(text, [[1, 2]])).toEqual([[1, 3]])
    expect(normalizeRanges(text, [[2, 4]])).toEqual([[1, 4]])
    expect(highlightPieces(text, [[2, 3]]).map((p) => p.text)).toEqual(['a', '😀', 'b'])
  })

  it('mends or drops ranges that are out of bounds, reversed, empty, unsorted or overlapping', () => {
    const text = 'hello world'
    expect(normalizeRanges(text, [[6, 11], [0, 5], [3, 7], [9, 99], [-4, 1], [5, 5], [8, 2], [1], [1.5, 3]])).toEqual([
      [0, 11],
    ])
    expect(normalizeRanges(text, [[6, 11], [0, 2]])).toEqual([
      [0, 2],
      [6, 11],
    ])
    expect(highlightPieces('', [[0, 3]])).toEqual([{ text: '', mark: false }])
    expect(highlightPieces(text, [])).toEqual([{ text, mark: false }])
  })

  it('cuts a long text around its first match, moving the ranges with it', () => {
    const text = `${'word '.repeat(100)}🦘 needle ${'tail '.repeat(100)}`
    const r = at(text, 'needle')
    const cut = excerpt(text, [r], 120, 30)
    expect(cut.text.startsWith('…')).toBe(true)
    expect(cut.text.endsWith('…')).toBe(true)
    expect(cut.text.length).toBeLessThanOrEqual(122)
    const [s, e] = cut.ranges[0]!
    expect(cut.text.slice(s, e)).toBe('needle')
    // A short text is left whole.
    expect(excerpt('short needle', [[6, 12]])).toEqual({ text: 'short needle', ranges: [[6, 12]] })
  })
})

describe('HighlightedText', () => {
  it('renders matches in <mark> as text nodes, emoji and all', () => {
    const text = '😀😀 Deploy at 🚀 noon, deploy!'
    const w = mount(HighlightedText, { props: { text, ranges: [at(text, 'Deploy'), at(text, 'deploy')] } })
    expect(marked(w)).toEqual(['Deploy', 'deploy'])
    expect(w.text()).toBe(text)
  })

  it('never turns the text into HTML', () => {
    const text = '<img src=x onerror=alert(1)> <b>bold</b> match'
    const w = mount(HighlightedText, { props: { text, ranges: [at(text, 'match'), at(text, 'img')] } })
    expect(w.find('img').exists()).toBe(false)
    expect(w.find('b').exists()).toBe(false)
    expect(w.text()).toBe(text)
    expect(marked(w)).toEqual(['img', 'match'])
  })
})
