//! The process's allocator: mimalloc for ordinary blocks, glibc for large ones.
//!
//! mimalloc's thread-local free lists make the many short-lived buffers of the
//! delivery path (frames, envelopes, queue nodes) far cheaper than glibc's arenas:
//! malloc and free were ~13 % of the server's CPU under load. But mimalloc keeps
//! freed memory for reuse until that thread allocates again, so the 19 MiB work
//! area of every argon2 hash (a login, a registration) stayed resident: a fresh
//! process was at ~90 MB after 16 registrations. Blocks of [`LARGE`] bytes and
//! more go to glibc instead, which maps them on their own (see
//! `fix_malloc_mmap_threshold` in `main.rs`) and unmaps them when freed.
//!
//! Routing is by size, and Rust hands `dealloc`/`realloc` the layout the block
//! was allocated with, so every block returns to the allocator it came from.

use std::alloc::{GlobalAlloc, Layout, System};

use mimalloc::MiMalloc;

/// Blocks of this size and larger come from glibc.
const LARGE: usize = 1024 * 1024;

/// mimalloc below [`LARGE`], the system allocator from it on.
pub struct Split;

fn large(layout: &Layout) -> bool {
    layout.size() >= LARGE
}

// SAFETY: every method forwards to a correct allocator; a block is freed or
// resized by the allocator that made it, since both choose by the block's size
// (the layout Rust passes back is the one it was allocated or resized with).
unsafe impl GlobalAlloc for Split {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract (non-zero size) is passed on unchanged.
        unsafe {
            if large(&layout) {
                System.alloc(layout)
            } else {
                MiMalloc.alloc(layout)
            }
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as in `alloc`.
        unsafe {
            if large(&layout) {
                System.alloc_zeroed(layout)
            } else {
                MiMalloc.alloc_zeroed(layout)
            }
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from the allocator that `layout`'s size selects.
        unsafe {
            if large(&layout) {
                System.dealloc(ptr, layout)
            } else {
                MiMalloc.dealloc(ptr, layout)
            }
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller guarantees `ptr`/`layout` describe a live block and
        // that `new_size` is valid for `layout.align()`.
        unsafe {
            let new_layout = Layout::from_size_align_unchecked(new_size, layout.align());
            match (large(&layout), large(&new_layout)) {
                (false, false) => MiMalloc.realloc(ptr, layout, new_size),
                (true, true) => System.realloc(ptr, layout, new_size),
                // Crossing the threshold: move the block to the other allocator.
                _ => {
                    let new = self.alloc(new_layout);
                    if !new.is_null() {
                        std::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                        self.dealloc(ptr, layout);
                    }
                    new
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_survive_crossing_the_threshold_both_ways() {
        let mut v: Vec<u8> = Vec::with_capacity(16);
        for i in 0..(3 * LARGE) {
            v.push((i % 251) as u8);
        }
        assert!(v.capacity() >= LARGE);
        v.truncate(100);
        v.shrink_to_fit();
        assert!(v.capacity() < LARGE);
        assert!(v.iter().enumerate().all(|(i, b)| *b == (i % 251) as u8));
        let big = vec![7u8; 2 * LARGE];
        assert!(big.iter().all(|b| *b == 7));
    }
}
