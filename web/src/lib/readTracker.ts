// Read detection: a message counts as read only when it is actually visible in the
// message viewport (IntersectionObserver) while the window has focus and the page
// is visible. Reports the highest such seq; the owner moves the cursor forward.

export interface ReadTrackerOptions {
  /** The scrolling element; null = the viewport (ancestors' clipping still applies). */
  root: HTMLElement | null
  onRead: (seq: number) => void
  /** Injected in tests. */
  IntersectionObserver?: typeof IntersectionObserver
  hasFocus?: () => boolean
  isVisible?: () => boolean
}

export interface ReadTracker {
  observe(el: Element): void
  unobserve(el: Element): void
  /** Re-evaluates (focus came back, the page became visible). */
  check(): void
  dispose(): void
}

export function createReadTracker(o: ReadTrackerOptions): ReadTracker {
  const visible = new Set<number>()
  const hasFocus = o.hasFocus ?? (() => document.hasFocus())
  const isVisible = o.isVisible ?? (() => document.visibilityState === 'visible')
  const IO = o.IntersectionObserver ?? globalThis.IntersectionObserver
  if (!IO) {
    // No IntersectionObserver (old browser, test DOM): nothing is ever seen as read.
    return { observe() {}, unobserve() {}, check() {}, dispose() {} }
  }
  const seqOf = (el: Element) => Number((el as HTMLElement).dataset.seq)

  const check = () => {
    if (!visible.size || !hasFocus() || !isVisible()) return
    o.onRead(Math.max(...visible))
  }

  const io = new IO(
    (entries) => {
      for (const e of entries) {
        const seq = seqOf(e.target)
        if (!Number.isFinite(seq) || seq <= 0) continue
        const rootH = e.rootBounds?.height ?? 0
        // Half of it on screen, or (for a message taller than the viewport) half the viewport.
        const seen =
          e.isIntersecting &&
          (e.intersectionRatio >= 0.5 || (rootH > 0 && e.intersectionRect.height >= rootH / 2))
        if (seen) visible.add(seq)
        else visible.delete(seq)
      }
      check()
    },
    { root: o.root, threshold: [0, 0.25, 0.5, 0.75, 1] },
  )

  const onVisibility = () => check()
  window.addEventListener('focus', check)
  document.addEventListener('visibilitychange', onVisibility)

  return {
    observe: (el) => io.observe(el),
    unobserve: (el) => {
      io.unobserve(el)
      visible.delete(seqOf(el))
    },
    check,
    dispose() {
      io.disconnect()
      visible.clear()
      window.removeEventListener('focus', check)
      document.removeEventListener('visibilitychange', onVisibility)
    },
  }
}
