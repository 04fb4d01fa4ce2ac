// Reconnect delays: exponential from `base`, capped, with jitter so that many
// clients dropped by one restart do not come back in lockstep.

export function backoffDelay(
  attempt: number,
  base = 500,
  cap = 10_000,
  random: () => number = Math.random,
): number {
  const exp = Math.min(cap, base * 2 ** Math.max(0, attempt - 1))
  // ±20 %
  return Math.round(exp * (0.8 + 0.4 * random()))
}
