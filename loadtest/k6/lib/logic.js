// Pure logic shared by the k6 scripts: the open-loop schedule, message payloads
// and the per-(connection, chat) exactly-once / in-order checker. No k6 imports,
// so Node can unit-test it (test/logic.test.js). Mirrors loadtest/src/schedule.rs
// and loadtest/src/checker.rs.

/**
 * Open-loop schedule: message n (0-based, over the whole run) is due at a fixed
 * offset from the start. The rate ramps linearly from 0 to `rate` over `ramp`
 * seconds, then stays at `rate` until `duration` seconds (ramp included).
 */
export class Schedule {
  constructor(rate, rampSecs, durationSecs) {
    this.rate = Math.max(0, rate);
    this.duration = durationSecs;
    this.ramp = Math.min(rampSecs, durationSecs);
  }

  countAt(t) {
    const c = Math.min(Math.max(t, 0), this.duration);
    if (c <= this.ramp) {
      return this.ramp > 0 ? (this.rate * c * c) / (2 * this.ramp) : 0;
    }
    return (this.rate * this.ramp) / 2 + this.rate * (c - this.ramp);
  }

  /** Messages in the run. */
  total() {
    return Math.ceil(this.countAt(this.duration) - 1e-9);
  }

  /** Seconds after the start at which message n is due, or null past the end. */
  due(n) {
    if (n >= this.total() || this.rate <= 0) return null;
    const rampCount = (this.rate * this.ramp) / 2;
    if (n < rampCount) return Math.sqrt((2 * n * this.ramp) / this.rate);
    return this.ramp + (n - rampCount) / this.rate;
  }
}

/** Message text: `lt <run> <due epoch ms> ` padded with x to `len` bytes. */
export function payload(run, dueMs, len) {
  let s = `lt ${run} ${Math.round(dueMs)} `;
  if (s.length < len) s += 'x'.repeat(len - s.length);
  return s;
}

/** `{run, dueMs}` of a text made by payload(), else null. */
export function parsePayload(text) {
  const p = text.split(' ', 3);
  if (p.length < 3 || p[0] !== 'lt') return null;
  const dueMs = Number(p[2]);
  if (!Number.isFinite(dueMs)) return null;
  return { run: p[1], dueMs };
}

/** Most holes remembered per stream (memory bound). */
export const MAX_HOLES = 4096;

/**
 * The delivery account of one chat on one connection: every seq after `base`
 * (the chat's last_seq when subscribed) must arrive once, never after a higher one.
 */
export class Stream {
  constructor(base) {
    this.base = base;
    this.hi = base;
    this.holes = new Set();
    this.untracked = 0;
    this.received = 0;
    this.duplicated = 0;
    this.outOfOrder = 0;
  }

  /** Accounts for one delivery: 'in_order' | 'skipped' | 'late' | 'duplicate'. */
  onSeq(seq) {
    if (seq === this.hi + 1) {
      this.hi = seq;
      this.received++;
      return 'in_order';
    }
    if (seq > this.hi) {
      for (let s = this.hi + 1; s < seq; s++) {
        if (this.holes.size >= MAX_HOLES) {
          this.untracked += seq - s;
          break;
        }
        this.holes.add(s);
      }
      this.hi = seq;
      this.received++;
      return 'skipped';
    }
    if (this.holes.delete(seq)) {
      this.outOfOrder++;
      this.received++;
      return 'late';
    }
    this.duplicated++;
    return 'duplicate';
  }

  /** Owed deliveries that never arrived, given the chat's final last_seq. */
  missing(lastSeq) {
    return this.holes.size + this.untracked + Math.max(0, lastSeq - this.hi);
  }

  /** Seqs owed, given the chat's final last_seq. */
  expected(lastSeq) {
    return Math.max(0, lastSeq - this.base);
  }
}

/** A small deterministic PRNG (mulberry32) for reproducible layouts. */
export function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Lays out `chats` chats over `users` users: `directRatio` of them direct
 * (evenly spread), the rest groups with sizes from `groupSizes` in turn.
 * Returns [{kind, members}] with member indices, creator first.
 */
export function planChats(users, chats, directRatio, groupSizes, seed) {
  if (users < 2 && chats > 0) throw new Error('chats need at least 2 users');
  const rand = rng(seed);
  const below = (n) => Math.floor(rand() * n);
  const pairs = new Set();
  const out = [];
  let groups = 0;
  for (let i = 0; i < chats; i++) {
    const creator = i % users;
    const direct = Math.floor((i + 1) * directRatio) > Math.floor(i * directRatio);
    if (direct) {
      let other = -1;
      for (let k = 0; k < 64 + users; k++) {
        const b = k < 64 ? below(users) : (creator + (k - 63)) % users;
        const key = `${Math.min(creator, b)}:${Math.max(creator, b)}`;
        if (b !== creator && !pairs.has(key)) {
          pairs.add(key);
          other = b;
          break;
        }
      }
      if (other < 0) throw new Error(`no unused pair of users left for direct chat ${i}`);
      out.push({ kind: 'direct', members: [creator, other] });
    } else {
      const size = groupSizes[groups++ % groupSizes.length];
      if (size > users) throw new Error(`group size ${size} exceeds the ${users} users`);
      const members = [creator];
      const seen = new Set(members);
      if (size * 2 <= users) {
        while (members.length < size) {
          const u = below(users);
          if (!seen.has(u)) {
            seen.add(u);
            members.push(u);
          }
        }
      } else {
        const rest = [];
        for (let u = 0; u < users; u++) if (u !== creator) rest.push(u);
        for (let k = 0; k < size - 1; k++) {
          const j = k + below(rest.length - k);
          [rest[k], rest[j]] = [rest[j], rest[k]];
          members.push(rest[k]);
        }
      }
      out.push({ kind: 'group', members });
    }
  }
  return out;
}
