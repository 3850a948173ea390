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

    /// An empty buffer with room for at least `capacity` bytes.
    pub fn take(&self, capacity: usize) -> Vec<u8> {
        let reused = self.free.lock().map(|mut f| f.pop()).unwrap_or(None);
        let mut buf = reused.unwrap_or_default();
        buf.reserve(capacity);
        buf
    }

    /// Gives a buffer back (dropped if the pool is full).
    pub fn give(&self, mut buf: Vec<u8>) {
        if buf.capacity() == 0 {
            return;
        }
        buf.clear();
        if let Ok(mut free) = self.free.lock()
            && free.len() < self.max
        {
            free.push(buf);
        }
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
        assert_eq!(b.as_ptr(), ptr, "the first buffer given back is reused");
        assert!(pool.take(1).is_empty());
    }
}
