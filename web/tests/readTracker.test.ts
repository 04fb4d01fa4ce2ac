import { describe, expect, it, vi } from 'vitest'
import { createReadTracker } from '../src/lib/readTracker'

/** An IntersectionObserver the test drives. */
class FakeIO {
  static last: FakeIO
  observed: Element[] = []
  constructor(readonly cb: (e: Partial<IntersectionObserverEntry>[]) => void) {
    FakeIO.last = this
  }
  observe(el: Element) {
    this.observed.push(el)
  }
  unobserve() {}
  disconnect() {}
  show(el: Element, ratio: number) {
    this.cb([{ target: el, isIntersecting: ratio > 0, intersectionRatio: ratio, rootBounds: null, intersectionRect: { height: 10 } as DOMRectReadOnly }])
  }
}

function el(seq: number) {
  const d = document.createElement('div')
  d.dataset.seq = String(seq)
  return d
}

function setup(focused: { v: boolean }) {
  const onRead = vi.fn()
  const t = createReadTracker({
    root: null,
    onRead,
    IntersectionObserver: FakeIO as unknown as typeof IntersectionObserver,
    hasFocus: () => focused.v,
    isVisible: () => true,
  })
  return { t, onRead }
}

describe('read tracker', () => {
  it('reports the highest message at least half visible while focused', () => {
    const focus = { v: true }
    const { t, onRead } = setup(focus)
    const [a, b, c] = [el(1), el(2), el(3)]
    for (const x of [a, b, c]) t.observe(x)
    FakeIO.last.show(a, 1)
    FakeIO.last.show(b, 0.6)
    FakeIO.last.show(c, 0.2)
    expect(onRead).toHaveBeenLastCalledWith(2)
    t.dispose()
  })

  it('reads nothing while the window has no focus, then reads on focus', () => {
    const focus = { v: false }
    const { t, onRead } = setup(focus)
    const a = el(7)
    t.observe(a)
    FakeIO.last.show(a, 1)
    expect(onRead).not.toHaveBeenCalled()
    focus.v = true
    window.dispatchEvent(new Event('focus'))
    expect(onRead).toHaveBeenCalledWith(7)
    t.dispose()
  })

  it('forgets messages that scrolled out of view', () => {
    const focus = { v: false }
    const { t, onRead } = setup(focus)
    const a = el(4)
    t.observe(a)
    FakeIO.last.show(a, 1)
    FakeIO.last.show(a, 0)
    focus.v = true
    t.check()
    expect(onRead).not.toHaveBeenCalled()
    t.dispose()
  })
})
