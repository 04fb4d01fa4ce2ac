//! What can be placed on the ring, and the exact bytes each kind is hashed as.

use crate::xxh64::Xxh64;

/// Seed given to XXH64 for key hashes and for virtual-node points. Part of the placement
/// contract: changing it moves every key.
pub const PLACEMENT_SEED: u64 = 0;

/// A thing that lives on exactly one shard.
///
/// Each kind has its own byte prefix, so chat 42 and user 42 are independent points on
/// the ring and usually land on different shards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key<'a> {
    /// A chat and everything that belongs to it (messages, members):
    /// hashed as `b"chat:"` followed by the id in ASCII decimal, e.g. `chat:42`.
    Chat(u64),
    /// A user and their chat list and read cursors:
    /// hashed as `b"user:"` followed by the id in ASCII decimal, e.g. `user:42`.
    User(u64),
    /// A login name, mapping to its user id: hashed as `b"name:"` followed by the UTF-8
    /// bytes of the name as given. The caller passes the canonical form (whatever
    /// normalisation login names get happens before this), since `Alice` and `alice`
    /// are different keys here.
    Name(&'a str),
}

impl Key<'_> {
    /// The key's position on the ring: `XXH64(encoding, PLACEMENT_SEED)` over the bytes
    /// described on each variant. Does not allocate.
    pub fn placement_hash(&self) -> u64 {
        let mut hasher = Xxh64::new(PLACEMENT_SEED);
        let mut digits = Decimal::new();
        match *self {
            Key::Chat(id) => {
                hasher.update(b"chat:");
                hasher.update(digits.format(id));
            }
            Key::User(id) => {
                hasher.update(b"user:");
                hasher.update(digits.format(id));
            }
            Key::Name(name) => {
                hasher.update(b"name:");
                hasher.update(name.as_bytes());
            }
        }
        hasher.finish()
    }
}

/// Stack buffer for the ASCII decimal form of a `u64` (at most 20 digits), so keys and
/// virtual-node labels are hashed without allocating.
pub(crate) struct Decimal {
    buf: [u8; 20],
}

impl Decimal {
    pub(crate) fn new() -> Self {
        Self { buf: [0; 20] }
    }

    /// Plain decimal: no sign, no padding, no separators; `0` is `b"0"`.
    pub(crate) fn format(&mut self, mut n: u64) -> &[u8] {
        let mut start = self.buf.len();
        loop {
            start -= 1;
            self.buf[start] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                return &self.buf[start..];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xxh64::xxh64;

    #[test]
    fn decimal_formats_like_display() {
        for n in [0, 1, 9, 10, 42, 1_000_000, u64::MAX - 1, u64::MAX] {
            assert_eq!(Decimal::new().format(n), n.to_string().as_bytes());
        }
    }

    #[test]
    fn encodings_are_the_stated_bytes() {
        assert_eq!(Key::Chat(42).placement_hash(), xxh64(b"chat:42", 0));
        assert_eq!(Key::User(0).placement_hash(), xxh64(b"user:0", 0));
        assert_eq!(
            Key::Chat(u64::MAX).placement_hash(),
            xxh64(b"chat:18446744073709551615", 0)
        );
        assert_eq!(Key::Name("alice").placement_hash(), xxh64(b"name:alice", 0));
    }

    /// Pinned values, computed independently with the reference libxxhash over the
    /// encoded bytes. If one of these changes, placement has changed: that is a data
    /// migration, not a refactor.
    #[test]
    fn pinned_key_hashes() {
        assert_eq!(Key::Chat(42).placement_hash(), 0xED7A_340D_E42A_538B);
        assert_eq!(Key::User(42).placement_hash(), 0xDC1F_EA7D_A8D2_D1C2);
        assert_eq!(Key::Name("alice").placement_hash(), 0x2E0D_3049_DBDE_C1EC);
        assert_eq!(Key::Chat(u64::MAX).placement_hash(), 0x7F68_A8A8_16D7_FFAD);
    }

    #[test]
    fn same_id_of_different_kinds_hashes_differently() {
        assert_ne!(
            Key::Chat(42).placement_hash(),
            Key::User(42).placement_hash()
        );
        assert_ne!(
            Key::Name("42").placement_hash(),
            Key::User(42).placement_hash()
        );
    }
}
