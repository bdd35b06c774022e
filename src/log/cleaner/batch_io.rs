//! The cleaner's buffered segment I/O — Kafka's cleaner read and write buffers
//! (`log.cleaner.io.buffer.size`).
//!
//! Reading: [`BatchReader::for_each_batch`] reads a segment in large chunks (one `pread` per
//! buffer, not one per batch plus header scans) and hands out each whole batch as a slice of
//! the buffer. A batch larger than the buffer grows it for that batch (bounded by the segment
//! size the caller gives); the buffer shrinks back after the segment.
//! Walking stops, as [`crate::log::header_scan::HeaderScan`] does, at the first header that is
//! incomplete, malformed or runs past the segment's size.
//!
//! Writing: [`BatchWriter`] packs whole batches back to back and writes them to the cleaned
//! segment with one write per buffer ([`LogSegment::append_batches`], which indexes each batch
//! at its position as a one-by-one append would).
//!
//! Sizes (Kafka's): each cleaner thread gets two buffers, read and write, of
//! `log.cleaner.io.buffer.size / log.cleaner.threads / 2` bytes each, at least [`MIN_BUFFER`].
//!
//! Both report their bytes to the cleaner's [`Throttler`] as they read or write.
//!
//! Thread-safety: owned by one cleaner thread.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicBool, Ordering};

use super::throttle::Throttler;
use crate::log::batch::{BatchHeader, HEADER_LEN, LOG_OVERHEAD};
use crate::log::segment::LogSegment;

/// The smallest read or write buffer (a few batches' worth), whatever the configuration says.
pub const MIN_BUFFER: usize = 64 << 10;

/// Size of each of a cleaner thread's two I/O buffers (see the module doc).
pub fn buffer_size(io_buffer_size: usize, threads: usize) -> usize {
    (io_buffer_size / threads.max(1) / 2).max(MIN_BUFFER)
}

/// A cleaner thread's read buffer.
pub struct BatchReader {
    buf: Vec<u8>,
    size: usize,
}

fn cancelled() -> io::Error {
    io::Error::new(io::ErrorKind::Interrupted, "cleaning cancelled")
}

impl BatchReader {
    /// A reader with a buffer of `size` bytes (allocated at the first read; at least a
    /// header, tests use small ones to cross buffer boundaries often).
    pub fn new(size: usize) -> BatchReader {
        BatchReader {
            buf: Vec::new(),
            size: size.max(HEADER_LEN),
        }
    }

    /// Calls `f` with each whole batch of the first `size` bytes of `file`, in order, until `f` returns false; fails
    /// with `Interrupted` once `cancel` is set (checked between batches). `f` gets the
    /// throttle back to account for what it writes.
    pub fn for_each_batch(
        &mut self,
        file: &File,
        size: u32,
        throttle: &mut Throttler,
        cancel: &AtomicBool,
        mut f: impl FnMut(&BatchHeader, &[u8], &mut Throttler) -> io::Result<bool>,
    ) -> io::Result<()> {
        let end = size as u64;
        if self.buf.len() != self.size {
            self.buf.resize(self.size, 0);
        }
        // buf[start..filled] holds the file's bytes from `file_pos - (filled - start)`.
        let (mut start, mut filled, mut file_pos) = (0usize, 0usize, 0u64);
        let result = loop {
            if cancel.load(Ordering::Relaxed) {
                break Err(cancelled());
            }
            if filled - start < HEADER_LEN {
                match self.refill(
                    file,
                    end,
                    &mut start,
                    &mut filled,
                    &mut file_pos,
                    HEADER_LEN,
                ) {
                    Ok(n) => throttle.maybe_throttle(n as u64),
                    Err(e) => break Err(e),
                }
            }
            let Some(h) = BatchHeader::parse(&self.buf[start..filled]) else {
                break Ok(());
            };
            let total = h.total_size();
            let batch_pos = file_pos - (filled - start) as u64;
            if h.batch_length < (HEADER_LEN - LOG_OVERHEAD) as i32 || batch_pos + total as u64 > end
            {
                break Ok(());
            }
            if filled - start < total {
                match self.refill(file, end, &mut start, &mut filled, &mut file_pos, total) {
                    Ok(n) => throttle.maybe_throttle(n as u64),
                    Err(e) => break Err(e),
                }
            }
            match f(&h, &self.buf[start..start + total], throttle) {
                Ok(true) => start += total,
                Ok(false) => break Ok(()),
                Err(e) => break Err(e),
            }
        };
        if self.buf.len() > self.size {
            self.buf.truncate(self.size);
            self.buf.shrink_to_fit();
        }
        result
    }

    /// Moves the unread bytes to the front and reads on from the file, at least `need` bytes
    /// in all when the file has them (growing the buffer for a batch larger than it).
    /// Returns the bytes read.
    fn refill(
        &mut self,
        file: &File,
        end: u64,
        start: &mut usize,
        filled: &mut usize,
        file_pos: &mut u64,
        need: usize,
    ) -> io::Result<usize> {
        self.buf.copy_within(*start..*filled, 0);
        *filled -= *start;
        *start = 0;
        if need > self.buf.len() {
            self.buf.resize(need, 0);
        }
        let left = end.saturating_sub(*file_pos);
        let n = ((self.buf.len() - *filled) as u64).min(left) as usize;
        file.read_exact_at(&mut self.buf[*filled..*filled + n], *file_pos)?;
        *filled += n;
        *file_pos += n as u64;
        Ok(n)
    }
}

/// A cleaner thread's write buffer for one cleaned segment.
pub struct BatchWriter {
    buf: Vec<u8>,
    headers: Vec<BatchHeader>,
    size: usize,
}

impl BatchWriter {
    /// A writer with a buffer of `size` bytes (a batch larger than it is written alone).
    pub fn new(size: usize) -> BatchWriter {
        BatchWriter {
            buf: Vec::with_capacity(size),
            headers: Vec::new(),
            size,
        }
    }

    /// Appends one whole batch (`h` parsed from `bytes`), writing the buffer out first when
    /// the batch does not fit in it.
    pub fn append(
        &mut self,
        dest: &mut LogSegment,
        throttle: &mut Throttler,
        bytes: &[u8],
        h: BatchHeader,
    ) -> io::Result<()> {
        if self.buf.len() + bytes.len() > self.size {
            self.flush(dest, throttle)?;
        }
        if bytes.len() > self.size {
            dest.append_batches(bytes, &[h])?;
            throttle.maybe_throttle(bytes.len() as u64);
            return Ok(());
        }
        self.buf.extend_from_slice(bytes);
        self.headers.push(h);
        Ok(())
    }

    /// Writes out what is buffered.
    pub fn flush(&mut self, dest: &mut LogSegment, throttle: &mut Throttler) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        dest.append_batches(&self.buf, &self.headers)?;
        throttle.maybe_throttle(self.buf.len() as u64);
        self.buf.clear();
        self.headers.clear();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::batch::tests::sample_batch;
    use crate::log::header_scan::HeaderScan;
    use crate::log::segment::SegmentConfig;

    /// Batches of 1 to 40 records (69 to 381 bytes) back to back, their offsets stamped.
    fn batches() -> Vec<Vec<u8>> {
        let mut next = 0i64;
        (0..60)
            .map(|i| {
                let n = 1 + (i * 7) % 40;
                let mut b = sample_batch(n, 1_000);
                b[..8].copy_from_slice(&next.to_be_bytes());
                next += n as i64;
                b
            })
            .collect()
    }

    #[test]
    fn reads_every_batch_whatever_the_buffer_size() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("seg");
        let mut bytes: Vec<u8> = batches().concat();
        let whole = bytes.len() as u32;
        bytes.extend_from_slice(&[0u8; 30]); // a torn header at the end
        std::fs::write(&path, &bytes).unwrap();
        let file = File::open(&path).unwrap();
        let size = bytes.len() as u32;
        let expected: Vec<(i64, usize)> = HeaderScan::new(&file, 0, size)
            .map(|r| r.map(|(_, h)| (h.base_offset, h.total_size())).unwrap())
            .collect();
        assert_eq!(expected.len(), 60);
        let cancel = AtomicBool::new(false);
        for buffer in [HEADER_LEN, 70, 100, 381, 500, 4096, 1 << 20] {
            let mut reader = BatchReader::new(buffer);
            let mut got = Vec::new();
            let mut read = Vec::new();
            let mut t = Throttler::new(f64::MAX);
            reader
                .for_each_batch(&file, size, &mut t, &cancel, |h, b, _| {
                    assert_eq!(BatchHeader::parse(b).as_ref(), Some(h));
                    got.push((h.base_offset, b.len()));
                    read.extend_from_slice(b);
                    Ok(true)
                })
                .unwrap();
            assert_eq!(got, expected, "buffer {buffer}");
            assert_eq!(read.len(), whole as usize);
            assert_eq!(read[..], bytes[..whole as usize]);
            assert!(
                reader.buf.len() <= buffer,
                "shrunk back after a larger batch"
            );
            // Stopping early, and cancelling.
            let mut n = 0;
            reader
                .for_each_batch(&file, size, &mut t, &cancel, |_, _, _| {
                    n += 1;
                    Ok(n < 5)
                })
                .unwrap();
            assert_eq!(n, 5);
        }
        cancel.store(true, Ordering::Relaxed);
        let err = BatchReader::new(4096)
            .for_each_batch(
                &file,
                size,
                &mut Throttler::new(f64::MAX),
                &cancel,
                |_, _, _| Ok(true),
            )
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::Interrupted);
    }

    #[test]
    fn buffered_writes_match_one_by_one_appends() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = SegmentConfig {
            index_interval_bytes: 500,
            index_max_bytes: 1 << 16,
        };
        let mut one = LogSegment::create_with_suffix(dir.path(), 0, cfg, 0, ".one").unwrap();
        let mut buffered = LogSegment::create_with_suffix(dir.path(), 0, cfg, 0, "").unwrap();
        let mut writer = BatchWriter::new(300);
        let mut t = Throttler::new(f64::MAX);
        for b in batches() {
            let h = BatchHeader::parse(&b).unwrap();
            let mut header = [0u8; HEADER_LEN];
            header.copy_from_slice(&b[..HEADER_LEN]);
            one.append(&header, &b[HEADER_LEN..], &h).unwrap();
            writer.append(&mut buffered, &mut t, &b, h).unwrap();
        }
        writer.flush(&mut buffered, &mut t).unwrap();
        assert_eq!(buffered.size(), one.size());
        assert_eq!(buffered.next_offset(), one.next_offset());
        let entries = |s: &LogSegment| s.offset_index().entries().collect::<Vec<_>>();
        assert!(entries(&one).len() > 3);
        assert_eq!(entries(&buffered), entries(&one));
        one.flush().unwrap();
        buffered.flush().unwrap();
        assert_eq!(
            std::fs::read(buffered.log_path()).unwrap(),
            std::fs::read(one.log_path()).unwrap()
        );
        let h = BatchHeader::parse(&batches()[0]).unwrap();
        assert!(buffered.append_batches(&[0; 10], &[h]).is_err());
    }
}
