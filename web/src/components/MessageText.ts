// User text as DOM text nodes, with http(s) URLs as safe links. Never HTML: a
// message such as `<img src=x onerror=alert(1)>` shows exactly those characters.
import { defineComponent, h } from 'vue'
import { linkify } from '../lib/linkify'

export default defineComponent({
  name: 'MessageText',
  props: {
    text: { type: String, required: true },
    testid: { type: String, default: 'message-text' },
  },
  setup(props) {
    return () =>
      h(
        'span',
        { class: 'text', 'data-testid': props.testid },
        linkify(props.text).map((s) =>
          s.kind === 'text'
            ? s.text
            : h('a', { href: s.href, rel: 'noopener noreferrer', target: '_blank' }, s.text),
        ),
      )
  },
})
