import { describe, expect, it } from 'vitest'
import { linkify, safeHref } from '../src/lib/linkify'

describe('linkify', () => {
  it('keeps plain text as one text segment', () => {
    expect(linkify('hello <b>world</b>')).toEqual([{ kind: 'text', text: 'hello <b>world</b>' }])
  })

  it('turns http and https URLs into links', () => {
    expect(linkify('see https://example.com/a?b=1 and http://x.org')).toEqual([
      { kind: 'text', text: 'see ' },
      { kind: 'link', text: 'https://example.com/a?b=1', href: 'https://example.com/a?b=1' },
      { kind: 'text', text: ' and ' },
      { kind: 'link', text: 'http://x.org', href: 'http://x.org/' },
    ])
  })

  it('leaves sentence punctuation out of the URL', () => {
    const s = linkify('go to https://example.com/page.')
    expect(s[1]).toEqual({ kind: 'link', text: 'https://example.com/page', href: 'https://example.com/page' })
    expect(s[2]).toEqual({ kind: 'text', text: '.' })
  })

  it('keeps balanced parentheses inside a URL', () => {
    const s = linkify('(https://en.wikipedia.org/wiki/Foo_(bar))')
    expect(s[1]).toMatchObject({ kind: 'link', text: 'https://en.wikipedia.org/wiki/Foo_(bar)' })
  })

  it('never links other schemes', () => {
    for (const t of ['javascript:alert(1)', 'data:text/html,<script>alert(1)</script>', 'vbscript:x', 'file:///etc/passwd']) {
      expect(linkify(t).every((s) => s.kind === 'text')).toBe(true)
    }
  })

  it('does not let a quote or angle bracket end up in an href', () => {
    const s = linkify('x https://a.com/"onmouseover="alert(1) <https://b.com/>')
    const hrefs = s.filter((x) => x.kind === 'link').map((x) => (x as { href: string }).href)
    expect(hrefs).toEqual(['https://a.com/', 'https://b.com/'])
  })

  it('safeHref accepts only http(s) with a host', () => {
    expect(safeHref('https://ok.example/x')).toBe('https://ok.example/x')
    expect(safeHref('javascript:alert(1)')).toBeNull()
    expect(safeHref('http://')).toBeNull()
  })
})
