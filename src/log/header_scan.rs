//! Walking the batch headers of a segment file region without reading the batches' payloads:
//! how segments find positions, recover, and how the log replays producer state.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

use super::batch::{BatchHeader, HEADER_LEN, LOG_OVERHEAD};

/// Iterates the batch headers of a file region `[start, end)` by reading it in chunks,
/// stopping at the first incomplete or malformed header. Reads each header once; batch
/// payloads larger than the chunk are skipped, not read.
pub struct HeaderScan<'a> {
    file: &'a File,
    pos: u32,
    end: u32,
    buf: Vec<u8>,
    buf_start: u32,
    done: bool,
}

const SCAN_CHUNK: usize = 8 * 1024;

impl<'a> HeaderScan<'a> {
    pub fn new(file: &'a File, start: u32, end: u32) -> Self {
        HeaderScan {
            file,
            pos: start,
            end,
            buf: Vec::new(),
            buf_start: start,
            done: false,
        }
    }
}

impl Iterator for HeaderScan<'_> {
    type Item = io::Result<(u32, BatchHeader)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done || self.pos as u64 + HEADER_LEN as u64 > self.end as u64 {
            return None;
        }
        let in_buf = self.pos >= self.buf_start
            && (self.pos - self.buf_start) as usize + HEADER_LEN <= self.buf.len();
        if !in_buf {
            let len = SCAN_CHUNK.min((self.end - self.pos) as usize);
            self.buf.resize(len, 0);
            if let Err(e) = self.file.read_exact_at(&mut self.buf, self.pos as u64) {
                self.done = true;
                return Some(Err(e));
            }
            self.buf_start = self.pos;
        }
        let at = (self.pos - self.buf_start) as usize;
        let h = BatchHeader::parse(&self.buf[at..])?;
        if h.batch_length < (HEADER_LEN - LOG_OVERHEAD) as i32
            || self.pos as u64 + h.total_size() as u64 > self.end as u64
        {
            self.done = true;
            return None;
        }
        let pos = self.pos;
        self.pos += h.total_size() as u32;
        Some(Ok((pos, h)))
    }
}
