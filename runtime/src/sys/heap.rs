//! The `podrt` binary's heap: small allocations from chunks that are never given back.
//!
//! musl's malloc returns a group of small slots to the kernel the moment its last slot is
//! freed, so a short command that parses and drops JSON maps and unmaps the same few pages over
//! and over: about 110 mmap and munmap calls in one `podrt run`, ~4.6 µs a pair in this VM
//! (page faults on fresh pages included), a quarter of a millisecond. Here allocations below
//! [`BIG`] come from a talc heap in 1 MiB anonymous chunks that are mapped on demand and kept
//! until exit; freed memory is reused, not unmapped. Larger ones (layer buffers, decompression
//! windows) stay with the libc allocator, so their memory goes back to the kernel as before.
//! Untouched pages of a chunk cost no RSS.
//!
//! The lock is std's futex mutex (it never allocates): a thread that finds it taken sleeps
//! instead of spinning, which matters on this 2-vCPU VM where a woken thread often waits on its
//! waker's CPU. The runtime is single-threaded wherever it forks or clones (see
//! [`crate::sys::clone_process`]), so a child never inherits it held.

use std::alloc::{GlobalAlloc, Layout};
use std::ptr::{self, NonNull};
use std::sync::{Mutex, MutexGuard, PoisonError};

use talc::{OomHandler, Span, Talc};

/// Requests of at least this many bytes (or alignment above a page) go to libc.
const BIG: usize = 128 * 1024;
/// The size of one heap chunk.
const CHUNK: usize = 1 << 20;
/// The page size assumed for rounding mmap lengths (x86-64 and arm64 both map 4 KiB pages).
const PAGE: usize = 4096;

/// The global allocator of the `podrt` binary (set in `main.rs`).
pub struct Heap {
    talc: Mutex<Talc<Grow>>,
}

impl std::fmt::Debug for Heap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Heap")
    }
}

impl Heap {
    /// An empty heap; its first chunk is mapped by the first allocation.
    #[must_use]
    pub const fn new() -> Heap {
        Heap {
            talc: Mutex::new(Talc::new(Grow)),
        }
    }

    /// The heap, locked. Nothing panics while holding it, so poisoning cannot happen; if it
    /// did, the heap itself would still be consistent.
    fn talc(&self) -> MutexGuard<'_, Talc<Grow>> {
        self.talc.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Default for Heap {
    fn default() -> Self {
        Heap::new()
    }
}

/// Maps another chunk when the heap runs out.
#[derive(Debug)]
pub struct Grow;

impl OomHandler for Grow {
    fn handle_oom(talc: &mut Talc<Self>, layout: Layout) -> Result<(), ()> {
        // Room for the request, its alignment and talc's own bookkeeping at the chunk's ends.
        let want = layout.size() + layout.align() + 256;
        let len = want.max(CHUNK).next_multiple_of(PAGE);
        // SAFETY: an anonymous private mapping at a kernel-chosen address touches no existing
        // memory; failure is MAP_FAILED, checked below.
        let base = unsafe {
            libc::mmap(
                ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(());
        }
        let span = Span::from_base_size(base.cast::<u8>(), len);
        // SAFETY: the span is fresh, writable memory that nothing else references and that is
        // never unmapped, so it stays valid for as long as talc may hand out parts of it.
        unsafe { talc.claim(span) }.map(|_| ())
    }
}

fn is_big(layout: Layout) -> bool {
    layout.size() >= BIG || layout.align() > PAGE
}

// SAFETY: every block is freed by the allocator that made it: the size class of a layout
// (is_big) is the same at alloc and dealloc, and realloc moves a block between the two only by
// allocating in the new one, copying and freeing in the old one. libc's malloc aligns to 16,
// and larger alignments go through posix_memalign.
unsafe impl GlobalAlloc for Heap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if is_big(layout) {
            // SAFETY: the caller's layout has a non-zero size (GlobalAlloc contract).
            return unsafe { libc_alloc(layout) };
        }
        // SAFETY: a non-zero size, as above.
        match unsafe { self.talc().malloc(layout) } {
            Ok(p) => p.as_ptr(),
            Err(()) => ptr::null_mut(),
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if is_big(layout) {
            // SAFETY: a big layout's block came from libc_alloc (malloc or posix_memalign).
            unsafe { libc::free(ptr.cast()) };
        } else {
            // SAFETY: a small layout's block came from talc with this layout (so it is not null).
            unsafe { self.talc().free(NonNull::new_unchecked(ptr), layout) }
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if is_big(layout) && layout.align() <= 16 {
            // SAFETY: calloc of a non-zero size; freed with free() as a big block.
            return unsafe { libc::calloc(layout.size(), 1).cast() };
        }
        // SAFETY: the caller's contract for alloc_zeroed is alloc's.
        let p = unsafe { self.alloc(layout) };
        if !p.is_null() {
            // SAFETY: p points to at least layout.size() writable bytes just allocated.
            unsafe { ptr::write_bytes(p, 0, layout.size()) };
        }
        p
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller guarantees new_size, rounded up to the alignment, does not
        // overflow isize, and the alignment is the block's, a valid one.
        let new = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        match (is_big(layout), is_big(new)) {
            (false, false) => {
                // SAFETY: a live talc block made with `layout` is not null.
                let block = unsafe { NonNull::new_unchecked(ptr) };
                let mut talc = self.talc();
                if new_size <= layout.size() {
                    // SAFETY: the block is live with `layout`; new_size is non-zero and not
                    // larger, so talc shrinks it in place.
                    unsafe { talc.shrink(block, layout, new_size) };
                    ptr
                } else {
                    // SAFETY: the block is live with `layout` and new_size is larger; talc
                    // grows it in place or moves it and frees the old block.
                    match unsafe { talc.grow(block, layout, new_size) } {
                        Ok(p) => p.as_ptr(),
                        Err(()) => ptr::null_mut(),
                    }
                }
            }
            // SAFETY: a malloc'd block (alignment at most 16) stays with libc.
            (true, true) if layout.align() <= 16 => unsafe {
                libc::realloc(ptr.cast(), new_size).cast()
            },
            _ => {
                // SAFETY: new has a non-zero size (the caller's contract).
                let p = unsafe { self.alloc(new) };
                if let Some(p) = NonNull::new(p) {
                    // SAFETY: both blocks are live and distinct, each at least the copied
                    // length; the old one is freed with the layout it was made with.
                    unsafe {
                        ptr::copy_nonoverlapping(ptr, p.as_ptr(), layout.size().min(new_size));
                        self.dealloc(ptr, layout);
                    }
                }
                p
            }
        }
    }
}

/// A block from libc, aligned as `layout` asks.
unsafe fn libc_alloc(layout: Layout) -> *mut u8 {
    if layout.align() <= 16 {
        // SAFETY: plain malloc; a null result is the caller's allocation failure.
        return unsafe { libc::malloc(layout.size()).cast() };
    }
    let mut p: *mut libc::c_void = ptr::null_mut();
    // SAFETY: the alignment is a power of two above 16, hence a multiple of the pointer size.
    match unsafe { libc::posix_memalign(&mut p, layout.align(), layout.size()) } {
        0 => p.cast(),
        _ => ptr::null_mut(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Blocks of every size class and alignment keep their bytes through reallocs that cross
    /// between the talc heap and libc in both directions.
    #[test]
    fn blocks_keep_their_contents_across_classes() {
        let heap = Heap::new();
        let cases = [
            (1, 1),
            (24, 8),
            (4000, 64),
            (BIG - 1, 16),
            (BIG, 16),
            (BIG * 4, 16384),
        ];
        for (size, align) in cases {
            let layout = Layout::from_size_align(size, align).unwrap();
            // SAFETY: every pointer is used with the layout it was allocated with, within its
            // size, and freed once.
            unsafe {
                let mut cur = heap.alloc(layout);
                let mut cur_size = size;
                assert!(!cur.is_null());
                ptr::write_bytes(cur, 0xa5, size);
                for new in [size / 2 + 1, size * 3, BIG + 7, 33, size] {
                    let old = Layout::from_size_align(cur_size, align).unwrap();
                    let q = heap.realloc(cur, old, new);
                    assert!(!q.is_null());
                    assert_eq!(q as usize % align, 0, "{size}/{align} -> {new}");
                    let keep = cur_size.min(new);
                    assert!(std::slice::from_raw_parts(q, keep)
                        .iter()
                        .all(|b| *b == 0xa5));
                    ptr::write_bytes(q, 0xa5, new);
                    cur = q;
                    cur_size = new;
                }
                heap.dealloc(cur, Layout::from_size_align(cur_size, align).unwrap());
                let z = heap.alloc_zeroed(layout);
                assert!(std::slice::from_raw_parts(z, size).iter().all(|b| *b == 0));
                heap.dealloc(z, layout);
            }
        }
    }

    /// Threads allocating, writing, checking and freeing at once: the lock keeps the heap
    /// consistent (each thread's blocks keep its own byte).
    #[test]
    fn threads_share_the_heap() {
        static HEAP: Heap = Heap::new();
        let workers: Vec<_> = (1..=4_u8)
            .map(|t| {
                std::thread::spawn(move || {
                    for round in 0..2000_usize {
                        let layout = Layout::from_size_align(8 + (round * 37) % 3000, 8).unwrap();
                        // SAFETY: a non-zero layout, written and read within its size, freed
                        // once with the same layout.
                        unsafe {
                            let p = HEAP.alloc(layout);
                            assert!(!p.is_null());
                            ptr::write_bytes(p, t, layout.size());
                            let q = HEAP.realloc(p, layout, layout.size() * 2);
                            assert!(std::slice::from_raw_parts(q, layout.size())
                                .iter()
                                .all(|b| *b == t));
                            HEAP.dealloc(q, Layout::from_size_align(layout.size() * 2, 8).unwrap());
                        }
                    }
                })
            })
            .collect();
        for w in workers {
            w.join().unwrap();
        }
    }

    /// More than a chunk of small blocks: the heap grows by mapping further chunks.
    #[test]
    fn grows_past_one_chunk() {
        let heap = Heap::new();
        let layout = Layout::from_size_align(64 * 1024, 8).unwrap();
        let blocks: Vec<*mut u8> = (0..64_u8)
            // SAFETY: a non-zero layout; the block is written within its size.
            .map(|i| unsafe {
                let p = heap.alloc(layout);
                assert!(!p.is_null());
                ptr::write_bytes(p, i, layout.size());
                p
            })
            .collect();
        for (i, p) in (0_u8..).zip(&blocks) {
            // SAFETY: each block is live, read within its size, freed once with its layout.
            unsafe {
                assert!(std::slice::from_raw_parts(*p, layout.size())
                    .iter()
                    .all(|b| *b == i));
                heap.dealloc(*p, layout);
            }
        }
    }
}
