//! Reading the index files' little-endian integers, strings (`[len u32][utf-8]`) and lists
//! (`[count u32]` items) from a byte slice: one reader for every index format.

/// A cursor over bytes; every read is `None` when the bytes run short or are not text.
pub(super) struct In<'a> {
    pub bytes: &'a [u8],
    pub at: usize,
}

impl<'a> In<'a> {
    pub fn new(bytes: &'a [u8]) -> In<'a> {
        In { bytes, at: 0 }
    }
    pub fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let slice = self.bytes.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(slice)
    }
    pub fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }
    pub fn u32(&mut self) -> Option<u32> {
        Some(u32_at(self.take(4)?, 0))
    }
    pub fn u64(&mut self) -> Option<u64> {
        Some(u64_at(self.take(8)?, 0))
    }
    /// A string; `u32::MAX` as its length (an absent string in format 3) reads as `None`.
    pub fn str(&mut self) -> Option<&'a str> {
        let len = self.u32()? as usize;
        std::str::from_utf8(self.take(len)?).ok()
    }
    pub fn list<T>(&mut self, mut each: impl FnMut(&mut Self) -> Option<T>) -> Option<Box<[T]>> {
        let n = self.u32()? as usize;
        // A damaged count must not reserve gigabytes: grow as items actually read.
        let mut items = Vec::with_capacity(n.min(64));
        for _ in 0..n {
            items.push(each(self)?);
        }
        Some(items.into_boxed_slice())
    }
}

pub(super) fn u32_at(b: &[u8], i: usize) -> u32 {
    let mut a = [0; 4];
    a.copy_from_slice(&b[i..i + 4]);
    u32::from_le_bytes(a)
}

pub(super) fn u64_at(b: &[u8], i: usize) -> u64 {
    let mut a = [0; 8];
    a.copy_from_slice(&b[i..i + 8]);
    u64::from_le_bytes(a)
}
