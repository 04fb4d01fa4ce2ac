// Client-chosen ids: client_msg_id for sends and forwards, ref for edits and deletes.

export function newClientMsgId(): string {
  if (typeof crypto !== 'undefined' && typeof crypto.randomUUID === 'function') {
    return crypto.randomUUID()
  }
  // crypto.randomUUID needs a secure context; plain http on a LAN address is not one.
  const b = new Uint8Array(16)
  crypto.getRandomValues(b)
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('')
}

let refCounter = 0
export function newRef(prefix: string): string {
  refCounter += 1
  return `${prefix}-${Date.now().toString(36)}-${refCounter}`
}
