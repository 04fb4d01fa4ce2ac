import { mount } from '@vue/test-utils'
import { describe, expect, it } from 'vitest'
import MessageText from '../src/components/MessageText'

describe('MessageText', () => {
  it('renders markup as text and creates no element from it', () => {
    const evil = '<img src=x onerror=alert(1)><script>alert(2)</script>'
    const w = mount(MessageText, { props: { text: evil } })
    expect(w.element.textContent).toBe(evil)
    expect(w.element.querySelector('img')).toBeNull()
    expect(w.element.querySelector('script')).toBeNull()
    expect(w.element.children.length).toBe(0)
  })

  it('makes http(s) URLs safe links and nothing else', () => {
    const w = mount(MessageText, { props: { text: 'a https://example.com/x b javascript:alert(1)' } })
    const links = w.findAll('a')
    expect(links).toHaveLength(1)
    expect(links[0]!.attributes()).toMatchObject({
      href: 'https://example.com/x',
      rel: 'noopener noreferrer',
      target: '_blank',
    })
    expect(w.element.textContent).toBe('a https://example.com/x b javascript:alert(1)')
  })

  it('keeps newlines (shown by CSS white-space: pre-wrap)', () => {
    const w = mount(MessageText, { props: { text: 'line 1\nline 2' } })
    expect(w.element.textContent).toBe('line 1\nline 2')
  })
})
