// User text as DOM text nodes, with http(s) URLs as safe links and the `@name`s of
// the users the message mentions marked (see ../lib/mentions). Never HTML: a
// message such as `<img src=x onerror=alert(1)>` shows exactly those characters.
import { defineComponent, h, type PropType } from 'vue'
import { linkify } from '../lib/linkify'
import { type MentionNames, mentionPieces, NO_MENTIONS } from '../lib/mentions'

export default defineComponent({
  name: 'MessageText',
  props: {
    text: { type: String, required: true },
    testid: { type: String, default: 'message-text' },
    /** The names to mark as mentions (`mentionNames`); none by default. */
    mentions: { type: Map as PropType<MentionNames>, default: () => NO_MENTIONS },
  },
  setup(props) {
    return () =>
      h(
        'span',
        { class: 'text', 'data-testid': props.testid },
        linkify(props.text).flatMap((s) =>
          s.kind === 'text'
            ? mentionPieces(s.text, props.mentions).map((p) =>
                p.mention
                  ? h('span', { class: ['mention', { 'mention-me': p.mention === 'me' }], 'data-testid': 'mention' }, p.text)
                  : p.text,
              )
            : [h('a', { href: s.href, rel: 'noopener noreferrer', target: '_blank' }, s.text)],
        ),
      )
  },
})
