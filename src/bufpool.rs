//! Reusable byte buffers. The memory of a chunk (its input bytes, its serialized calls) goes
//! back here once the writer is done with it, and is filled again by a later chunk, so a long
//! run stops allocating, and faulting in, fresh memory for every chunk.

use std::sync::Mutex;

/// A bounded free list of buffers.
#[derive(Debug)]
pub struct BufPool {
    free: Mutex<Vec<Vec<u8>>>,
    max: usize,
}

impl BufPool {
    /// A pool keeping at most `max` idle buffers.
    pub fn new(max: usize) -> BufPool {
        BufPool {
            free: Mutex::new(Vec::with_capacity(max)),
            max,
        }
    }

    /// An empty buffer with room for at least `capacity` bytes: the smallest idle one that is
    /// big enough, else a new one of [`size_class`]`(capacity)`. (Growing an idle buffer instead
    /// would copy its stale bytes and ratchet capacities up.)
    pub fn take(&self, capacity: usize) -> Vec<u8> {
        let reused = self.free.lock().ok().and_then(|mut free| {
            let i = (0..free.len())
                .filter(|&i| free[i].capacity() >= capacity)
                .min_by_key(|&i| free[i].capacity())?;
            Some(free.swap_remove(i))
        });
        reused.unwrap_or_else(|| Vec::with_capacity(size_class(capacity)))
    }

    /// Gives a buffer back. When the pool is full it keeps the larger buffers.
    pub fn give(&self, mut buf: Vec<u8>) {
        if buf.capacity() == 0 {
            return;
        }
        buf.clear();
        if let Ok(mut free) = self.free.lock() {
            if free.len() < self.max {
                free.push(buf);
            } else if let Some(smallest) = free.iter_mut().min_by_key(|b| b.capacity())
                && smallest.capacity() < buf.capacity()
            {
                *smallest = buf;
            }
        }
    }
}

/// The capacity a new buffer gets: requests that differ by a few bytes (chunks of slightly
/// different sizes) share a class, so a buffer given back fits the next chunk's request.
pub fn size_class(n: usize) -> usize {
    const STEP: usize = 256 << 10;
    if n <= STEP {
        n.next_power_of_two()
    } else {
        n.div_ceil(STEP) * STEP
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_come_back_empty_and_the_pool_stays_bounded() {
        let pool = BufPool::new(1);
        let mut a = pool.take(10);
        a.extend_from_slice(b"hello");
        let ptr = a.as_ptr();
        pool.give(a);
        pool.give(vec![1, 2, 3]);
        let b = pool.take(4);
        assert!(b.is_empty());
        assert_eq!(b.as_ptr(), ptr, "the larger buffer is kept and reused");
        assert!(pool.take(1).is_empty());
    }

    #[test]
    fn take_picks_the_smallest_buffer_that_fits() {
        let pool = BufPool::new(4);
        for n in [100, 10, 1000] {
            pool.give(Vec::with_capacity(n));
        }
        assert_eq!(pool.take(50).capacity(), 100);
        assert_eq!(pool.take(5).capacity(), 10);
        // Nothing idle fits: a new buffer of the request's size class.
        assert_eq!(pool.take(5000).capacity(), 8192);
        assert_eq!(pool.take(1000).capacity(), 1000);
        assert_eq!(pool.take(1024).capacity(), 1024);
        assert_eq!(size_class((2 << 20) + 1), (2 << 20) + (256 << 10));
        assert_eq!(size_class(3 << 20), 3 << 20);
    }
}
