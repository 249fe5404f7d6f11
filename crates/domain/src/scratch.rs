//! A buffer kept for writing values of every size whose results are copied out at their own size
//! (a record's JSON text, its compressed bytes): reused, it is not grown step by step for each value,
//! and what is kept from it holds no spare capacity.

/// Past this capacity, left by an unusually large value, the buffer is released after use instead of
/// being kept for the thread's life.
const KEEP_AT_MOST: usize = 1 << 20;

/// See the module documentation.
#[derive(Debug, Default)]
pub struct Scratch(Vec<u8>);

impl Scratch {
    /// An empty buffer (allocates on first use).
    pub const fn new() -> Self {
        Scratch(Vec::new())
    }

    /// Empties the buffer, lets `write` fill it and copy out what it keeps, then releases the
    /// buffer if it grew past 1 MiB.
    pub fn with<T>(&mut self, write: impl FnOnce(&mut Vec<u8>) -> T) -> T {
        self.0.clear();
        let out = write(&mut self.0);
        if self.0.capacity() > KEEP_AT_MOST {
            self.0 = Vec::new();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_buffer_grown_past_a_mebibyte_is_released_a_smaller_one_kept() {
        let mut s = Scratch::new();
        let copied = s.with(|b| {
            b.extend_from_slice(b"abc");
            b.to_vec()
        });
        assert_eq!(copied, b"abc");
        assert!(s.0.capacity() >= 3);
        let n = s.with(|b| {
            assert!(b.is_empty(), "emptied before use");
            b.resize(KEEP_AT_MOST + 1, 0);
            b.len()
        });
        assert_eq!(n, KEEP_AT_MOST + 1);
        assert_eq!(s.0.capacity(), 0);
    }
}
