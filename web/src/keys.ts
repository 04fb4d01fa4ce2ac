import { inject, type InjectionKey } from 'vue'
import type { ChatClient } from './stores/client'
import type { ReadTracker } from './lib/readTracker'

export const CLIENT: InjectionKey<ChatClient> = Symbol('client')
export const TRACKER: InjectionKey<{ current: ReadTracker | null }> = Symbol('tracker')

export function useClient(): ChatClient {
  const c = inject(CLIENT)
  if (!c) throw new Error('no ChatClient provided')
  return c
}
