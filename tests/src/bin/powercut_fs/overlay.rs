//! What a file holds beyond its durable bytes: the writes and truncations made since its
//! last fsync/fdatasync, kept in memory in 4 KiB pages over the backing file, which holds
//! exactly the bytes that were synced. Reads see both; a sync writes the pages into the
//! backing file; a power cut drops them.

use std::collections::BTreeMap;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt as _;

pub const PAGE: u64 = 4096;

/// The durable copy of a file: the backing file, or a `Vec` in the unit tests.
pub trait Backing {
    /// Fills `buf` from `offset`; bytes past the end read as zero.
    fn read_into(&self, offset: u64, buf: &mut [u8]) -> io::Result<()>;
    fn size(&self) -> io::Result<u64>;
    fn resize(&mut self, size: u64) -> io::Result<()>;
    fn write_all_at_offset(&mut self, offset: u64, data: &[u8]) -> io::Result<()>;
}

impl Backing for File {
    fn read_into(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        let mut done = 0;
        while done < buf.len() {
            match self.read_at(&mut buf[done..], offset + done as u64) {
                Ok(0) => break,
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        buf[done..].fill(0);
        Ok(())
    }

    fn size(&self) -> io::Result<u64> {
        Ok(self.metadata()?.len())
    }

    fn resize(&mut self, size: u64) -> io::Result<()> {
        self.set_len(size)
    }

    fn write_all_at_offset(&mut self, offset: u64, data: &[u8]) -> io::Result<()> {
        self.write_all_at(data, offset)
    }
}

impl Backing for Vec<u8> {
    fn read_into(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        buf.fill(0);
        let start = (offset as usize).min(self.len());
        let end = (offset as usize + buf.len()).min(self.len());
        buf[..end - start].copy_from_slice(&self[start..end]);
        Ok(())
    }

    fn size(&self) -> io::Result<u64> {
        Ok(self.len() as u64)
    }

    fn resize(&mut self, size: u64) -> io::Result<()> {
        Vec::resize(self, size as usize, 0);
        Ok(())
    }

    fn write_all_at_offset(&mut self, offset: u64, data: &[u8]) -> io::Result<()> {
        let end = offset as usize + data.len();
        if self.len() < end {
            Vec::resize(self, end, 0);
        }
        self[offset as usize..end].copy_from_slice(data);
        Ok(())
    }
}

/// The unsynced state of one file.
#[derive(Debug)]
pub struct Unsynced {
    /// The file's size as its users see it.
    size: u64,
    /// Backing bytes at or past this offset are no longer the file's (a truncation not yet
    /// synced): they read as zero unless a page here holds newer bytes.
    cut: u64,
    /// Pages written since the last sync, whole; bytes past `size` are zero.
    pages: BTreeMap<u64, Box<[u8]>>,
}

impl Unsynced {
    /// Nothing unsynced yet over a durable file of `durable_size` bytes.
    pub fn new(durable_size: u64) -> Self {
        Self {
            size: durable_size,
            cut: u64::MAX,
            pages: BTreeMap::new(),
        }
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// Bytes a power cut would lose now, counted in whole pages.
    pub fn held_bytes(&self) -> u64 {
        self.pages.len() as u64 * PAGE
    }

    fn base_page(&self, base: &impl Backing, index: u64) -> io::Result<Box<[u8]>> {
        let mut page = vec![0; PAGE as usize].into_boxed_slice();
        let start = index * PAGE;
        if start < self.cut {
            let visible = (self.cut - start).min(PAGE) as usize;
            base.read_into(start, &mut page[..visible])?;
        }
        Ok(page)
    }

    fn page_mut(&mut self, base: &impl Backing, index: u64) -> io::Result<&mut [u8]> {
        if !self.pages.contains_key(&index) {
            let page = self.base_page(base, index)?;
            self.pages.insert(index, page);
        }
        Ok(self.pages.get_mut(&index).expect("inserted above"))
    }

    pub fn write(&mut self, base: &impl Backing, offset: u64, data: &[u8]) -> io::Result<()> {
        let mut done = 0;
        while done < data.len() {
            let position = offset + done as u64;
            let within = (position % PAGE) as usize;
            let n = (PAGE as usize - within).min(data.len() - done);
            self.page_mut(base, position / PAGE)?[within..within + n]
                .copy_from_slice(&data[done..done + n]);
            done += n;
        }
        self.size = self.size.max(offset + data.len() as u64);
        Ok(())
    }

    pub fn read(&self, base: &impl Backing, offset: u64, len: usize) -> io::Result<Vec<u8>> {
        if offset >= self.size {
            return Ok(Vec::new());
        }
        let end = self.size.min(offset + len as u64);
        let mut out = vec![0; (end - offset) as usize];
        if offset < self.cut {
            let visible = (self.cut.min(end) - offset) as usize;
            base.read_into(offset, &mut out[..visible])?;
        }
        for (&index, page) in self.pages.range(offset / PAGE..end.div_ceil(PAGE)) {
            let page_start = index * PAGE;
            let from = offset.max(page_start);
            let to = end.min(page_start + PAGE);
            out[(from - offset) as usize..(to - offset) as usize]
                .copy_from_slice(&page[(from - page_start) as usize..(to - page_start) as usize]);
        }
        Ok(out)
    }

    pub fn truncate(&mut self, base: &impl Backing, size: u64) -> io::Result<()> {
        if size < self.size {
            let within = (size % PAGE) as usize;
            if within != 0 {
                self.page_mut(base, size / PAGE)?[within..].fill(0);
            }
            drop(self.pages.split_off(&size.div_ceil(PAGE)));
            self.cut = self.cut.min(size);
        }
        self.size = size;
        Ok(())
    }

    /// Makes the backing file what the users see: what a completed fsync leaves on disk.
    pub fn apply(&self, base: &mut impl Backing) -> io::Result<()> {
        if self.cut < base.size()? {
            base.resize(self.cut)?;
        }
        for (&index, page) in &self.pages {
            let start = index * PAGE;
            if start < self.size {
                let n = (self.size - start).min(PAGE) as usize;
                base.write_all_at_offset(start, &page[..n])?;
            }
        }
        base.resize(self.size)
    }
}

#[cfg(test)]
mod tests {
    use rand::{Rng as _, SeedableRng as _};

    use super::*;

    /// Random writes, truncations, syncs and power cuts against a plain model: the current
    /// bytes and the durable bytes.
    #[test]
    fn matches_a_model_of_current_and_durable_bytes() {
        for seed in 0..200u64 {
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
            let mut durable: Vec<u8> = (0..rng.gen_range(0..3 * PAGE as usize))
                .map(|_| rng.gen())
                .collect();
            let mut current = durable.clone();
            let mut layer = Unsynced::new(durable.len() as u64);
            for step in 0..60 {
                match rng.gen_range(0..10) {
                    0..=4 => {
                        let offset = rng.gen_range(0..4 * PAGE);
                        let data: Vec<u8> = (0..rng.gen_range(1..2 * PAGE as usize))
                            .map(|_| rng.gen())
                            .collect();
                        layer.write(&durable, offset, &data).unwrap();
                        let end = offset as usize + data.len();
                        if current.len() < end {
                            current.resize(end, 0);
                        }
                        current[offset as usize..end].copy_from_slice(&data);
                    }
                    5 | 6 => {
                        let size = rng.gen_range(0..5 * PAGE);
                        layer.truncate(&durable, size).unwrap();
                        current.resize(size as usize, 0);
                    }
                    7 => {
                        layer.apply(&mut durable).unwrap();
                        assert_eq!(durable, current, "seed {seed} step {step}: sync");
                        layer = Unsynced::new(durable.len() as u64);
                    }
                    8 => {
                        current = durable.clone();
                        layer = Unsynced::new(durable.len() as u64);
                    }
                    _ => {}
                }
                assert_eq!(
                    layer.size(),
                    current.len() as u64,
                    "seed {seed} step {step}"
                );
                let offset = rng.gen_range(0..6 * PAGE);
                let len = rng.gen_range(0..3 * PAGE as usize);
                let read = layer.read(&durable, offset, len).unwrap();
                let from = (offset as usize).min(current.len());
                let to = (offset as usize + len).min(current.len());
                assert_eq!(read, &current[from..to], "seed {seed} step {step}: read");
                let whole = layer.read(&durable, 0, current.len() + 1).unwrap();
                assert_eq!(whole, current, "seed {seed} step {step}: whole");
            }
        }
    }

    #[test]
    fn unsynced_writes_leave_the_backing_untouched() {
        let mut durable = b"durable".to_vec();
        let mut layer = Unsynced::new(7);
        layer.write(&durable, 7, b" and lost").unwrap();
        layer.truncate(&durable, 3).unwrap();
        layer.write(&durable, 0, b"D").unwrap();
        assert_eq!(layer.read(&durable, 0, 100).unwrap(), b"Dur");
        assert_eq!(durable, b"durable");
        layer.apply(&mut durable).unwrap();
        assert_eq!(durable, b"Dur");
    }
}
