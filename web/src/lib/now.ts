// The current time as a ref that moves on every `everyMs` while the component is
// mounted: texts like "last seen 5 minutes ago" stay true without a reload.

import { onBeforeUnmount, onMounted, type Ref, ref } from 'vue'

export function useNow(everyMs = 30_000): Ref<number> {
  const now = ref(Date.now())
  let timer: ReturnType<typeof setInterval> | undefined
  onMounted(() => {
    timer = setInterval(() => (now.value = Date.now()), everyMs)
  })
  onBeforeUnmount(() => clearInterval(timer))
  return now
}
