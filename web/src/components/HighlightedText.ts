// A search hit's text with its matched ranges in <mark>: text nodes only, never
// HTML (a hit such as `<img src=x onerror=alert(1)>` shows exactly those characters).
import { defineComponent, h, type PropType } from 'vue'
import { excerpt, highlightPieces } from '../lib/highlight'

export default defineComponent({
  name: 'HighlightedText',
  props: {
    text: { type: String, required: true },
    /** [start, end) in UTF-16 code units (JavaScript string indices). */
    ranges: { type: Array as PropType<readonly (readonly number[])[]>, default: () => [] },
    /** Cut a long text to about this many code units around the first match (0: never). */
    max: { type: Number, default: 240 },
  },
  setup(props) {
    return () => {
      const cut = props.max > 0 ? excerpt(props.text, props.ranges, props.max) : { text: props.text, ranges: props.ranges }
      return h(
        'span',
        { class: 'hit-text', 'data-testid': 'hit-text' },
        highlightPieces(cut.text, cut.ranges).map((p) => (p.mark ? h('mark', p.text) : p.text)),
      )
    }
  },
})
