//! `gregor dump-log`: prints a segment's batches like Kafka's DumpLogSegments — producer id
//! and epoch, whether transactional or control, and for a transaction marker its type and
//! coordinator epoch — optionally every record, and checks the `.index`/`.timeindex`/
//! `.txnindex` against the log. KRaft snapshot files (`<offset>-<epoch>.checkpoint` in
//! `__cluster_metadata-0`) are record batches too and dump the same way; control batches of
//! the metadata quorum show their type (`controlType: KRAFT_VOTERS`, `LEADER_CHANGE`, …).
//!
//! It only reads: index files are read as plain bytes (never mapped or trimmed), so dumping
//! a live or damaged partition changes nothing.

use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use super::batch::{self, BatchHeader, HEADER_LEN, LOG_OVERHEAD};
use super::control::{self, ControlType, Marker};
use super::layout;
use super::records;
use super::txn_index;

/// What a dump found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DumpSummary {
    pub batches: u64,
    pub invalid_batches: u64,
    /// Bytes after the last whole batch (a torn tail).
    pub trailing_bytes: u64,
    pub index_errors: u64,
}

/// Options of one dump.
#[derive(Debug, Clone, Copy, Default)]
pub struct DumpOptions {
    pub print_data: bool,
    pub verify_index: bool,
}

struct BatchInfo {
    pos: u64,
    header: BatchHeader,
    marker: Option<Marker>,
}

fn marker_text(m: &Option<Marker>) -> String {
    match m {
        Some(m) => format!(
            "endTxnMarker: {} coordinatorEpoch: {}",
            match m.kind {
                ControlType::Abort => "ABORT",
                ControlType::Commit => "COMMIT",
            },
            m.coordinator_epoch
        ),
        None => "endTxnMarker: unreadable".into(),
    }
}

fn show_bytes(b: &Option<bytes::Bytes>) -> String {
    match b {
        None => "null".into(),
        Some(b) => String::from_utf8_lossy(b).into_owned(),
    }
}

/// Whether `name` is a KRaft snapshot file: `<20 digits>-<10 digits>.checkpoint`.
fn is_metadata_snapshot(name: &str) -> bool {
    name.strip_suffix(".checkpoint")
        .and_then(|s| s.split_once('-'))
        .is_some_and(|(o, e)| {
            o.len() == 20
                && e.len() == 10
                && o.bytes().all(|b| b.is_ascii_digit())
                && e.bytes().all(|b| b.is_ascii_digit())
        })
}

/// Dumps one file; `.index`/`.timeindex` paths dump their segment's `.log` with verification;
/// a metadata snapshot (`.checkpoint`) is read like a segment.
pub fn dump(path: &Path, opts: DumpOptions, out: &mut dyn Write) -> Result<DumpSummary, String> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let dir = path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let (base, log_path, verify) = if let Some(b) = layout::parse_offset(name, layout::LOG_SUFFIX) {
        (b, path.to_path_buf(), opts.verify_index)
    } else if let Some(b) = layout::parse_offset(name, layout::INDEX_SUFFIX)
        .or_else(|| layout::parse_offset(name, layout::TIME_INDEX_SUFFIX))
        .or_else(|| layout::parse_offset(name, layout::TXN_INDEX_SUFFIX))
    {
        (b, layout::log_file(&dir, b), true)
    } else if is_metadata_snapshot(name) {
        // A KRaft snapshot (`<end offset>-<epoch>.checkpoint`): batches from offset 0.
        (0, path.to_path_buf(), false)
    } else {
        return Err(format!(
            "{}: not a log segment (expected <20-digit offset>.log, .index, .timeindex, .txnindex or a <offset>-<epoch>.checkpoint snapshot)",
            path.display()
        ));
    };
    let w = |out: &mut dyn Write, s: String| writeln!(out, "{s}").map_err(|e| e.to_string());
    let file = File::open(&log_path).map_err(|e| format!("{}: {e}", log_path.display()))?;
    let len = file.metadata().map_err(|e| e.to_string())?.len();
    w(out, format!("Dumping {}", log_path.display()))?;
    w(out, format!("Log starting offset: {base}"))?;
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut summary = DumpSummary::default();
    let mut batches = Vec::new();
    let mut pos: u64 = 0;
    let mut buf = Vec::new();
    loop {
        if pos + HEADER_LEN as u64 > len {
            summary.trailing_bytes = len - pos;
            break;
        }
        let mut header = [0u8; HEADER_LEN];
        reader.read_exact(&mut header).map_err(|e| e.to_string())?;
        let Some(h) = BatchHeader::parse(&header) else {
            break;
        };
        if h.batch_length < (HEADER_LEN - LOG_OVERHEAD) as i32 || pos + h.total_size() as u64 > len
        {
            summary.trailing_bytes = len - pos;
            break;
        }
        buf.clear();
        buf.extend_from_slice(&header);
        buf.resize(h.total_size(), 0);
        reader
            .read_exact(&mut buf[HEADER_LEN..])
            .map_err(|e| e.to_string())?;
        let valid = batch::compute_crc(&buf) == h.crc && h.magic == 2;
        summary.batches += 1;
        if !valid {
            summary.invalid_batches += 1;
        }
        let marker = if valid && h.is_control() {
            control::read_marker(&buf)
        } else {
            None
        };
        let control_type = if valid && h.is_control() && marker.is_none() {
            control::batch_control_type(&buf)
        } else {
            None
        };
        let marker_note = if let Some(t) = control_type {
            format!(" controlType: {}", control::type_name(t))
        } else if h.is_control() {
            format!(" {}", marker_text(&marker))
        } else {
            String::new()
        };
        w(out, format!(
            "baseOffset: {} lastOffset: {} count: {} baseSequence: {} lastSequence: {} producerId: {} producerEpoch: {} partitionLeaderEpoch: {} isTransactional: {} isControl: {} deleteHorizonMs: {} position: {} {}: {} size: {} magic: {} compresscodec: {} crc: {} isvalid: {}{}",
            h.base_offset, h.last_offset(), h.record_count, h.base_sequence, h.last_sequence(), h.producer_id, h.producer_epoch,
            h.partition_leader_epoch, h.is_transactional(), h.is_control(),
            crate::log::cleaner::filter::delete_horizon(&h).map_or("OptionalLong.empty".into(), |t| format!("OptionalLong[{t}]")), pos,
            if h.is_log_append_time() { "LogAppendTime" } else { "CreateTime" }, h.max_timestamp, h.total_size(), h.magic,
            h.compression_name(), h.crc, valid, marker_note
        ))?;
        if let (true, Some(t)) = (opts.print_data, control_type) {
            w(
                out,
                format!(
                    "| offset: {} controlType: {}",
                    h.base_offset,
                    control::type_name(t)
                ),
            )?;
        } else if opts.print_data && valid && h.is_control() {
            w(
                out,
                format!("| offset: {} {}", h.base_offset, marker_text(&marker)),
            )?;
        } else if opts.print_data && valid {
            match records::decode(&buf) {
                Ok(recs) => {
                    for r in recs {
                        let headers: Vec<String> = r
                            .headers
                            .iter()
                            .map(|(k, v)| format!("{}={}", k, show_bytes(v)))
                            .collect();
                        w(out, format!(
                            "| offset: {} {}: {} keySize: {} valueSize: {} sequence: {} headerKeys: [{}] key: {} payload: {}",
                            r.offset,
                            if h.is_log_append_time() { "LogAppendTime" } else { "CreateTime" },
                            r.timestamp,
                            r.key.as_ref().map(|k| k.len() as i64).unwrap_or(-1),
                            r.value.as_ref().map(|v| v.len() as i64).unwrap_or(-1),
                            r.sequence,
                            headers.join(","),
                            show_bytes(&r.key),
                            show_bytes(&r.value)
                        ))?;
                    }
                }
                Err(e) => w(out, format!("| records could not be decoded: {e}"))?,
            }
        }
        batches.push(BatchInfo {
            pos,
            header: h,
            marker,
        });
        pos += h.total_size() as u64;
    }
    if summary.trailing_bytes > 0 {
        w(out, format!("Found {} invalid bytes at the end of {} (a torn or corrupt batch at position {pos})", summary.trailing_bytes, log_path.display()))?;
    }
    if verify {
        summary.index_errors = verify_indexes(&dir, base, &batches, out)?;
        summary.index_errors += verify_txn_index(&dir, base, &batches, out)?;
    }
    Ok(summary)
}

fn read_entries(path: &Path, size: usize) -> Result<Vec<Vec<u8>>, String> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(bytes.chunks_exact(size).map(<[u8]>::to_vec).collect()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

/// Checks every index entry against the batches read from the log; returns the mismatches.
fn verify_indexes(
    dir: &Path,
    base: i64,
    batches: &[BatchInfo],
    out: &mut dyn Write,
) -> Result<u64, String> {
    let mut errors = 0u64;
    let index_path = layout::index_file(dir, base);
    let mut prev = None;
    for e in read_entries(&index_path, 8)? {
        let rel = u32::from_be_bytes([e[0], e[1], e[2], e[3]]) as i64;
        let pos = u32::from_be_bytes([e[4], e[5], e[6], e[7]]) as u64;
        let offset = base + rel;
        let ok = batches
            .iter()
            .any(|b| b.pos == pos && b.header.last_offset() == offset)
            && prev.is_none_or(|(po, pp)| offset > po && pos > pp);
        if !ok && rel == 0 && pos == 0 {
            // Zero-filled space preallocated for an active (untrimmed) index: no more entries.
            break;
        }
        if !ok {
            errors += 1;
            writeln!(out, "Index mismatch in {}: offset {offset} position {pos} is not the last offset of a batch starting there", index_path.display()).map_err(|e| e.to_string())?;
        }
        prev = Some((offset, pos));
    }
    let time_path = layout::time_index_file(dir, base);
    let mut prev_ts: Option<(i64, i64)> = None;
    for e in read_entries(&time_path, 12)? {
        let mut t = [0u8; 8];
        t.copy_from_slice(&e[0..8]);
        let ts = i64::from_be_bytes(t);
        let offset = base + u32::from_be_bytes([e[8], e[9], e[10], e[11]]) as i64;
        let ok = batches.iter().any(|b| {
            b.header.base_offset <= offset
                && offset <= b.header.last_offset()
                && b.header.max_timestamp == ts
        }) && prev_ts.is_none_or(|(pt, po)| ts > pt && offset >= po);
        if !ok && ts == 0 && offset == base {
            // Zero-filled space preallocated for an active (untrimmed) index: no more entries.
            break;
        }
        if !ok {
            errors += 1;
            writeln!(
                out,
                "Time index mismatch in {}: timestamp {ts} offset {offset} matches no batch",
                time_path.display()
            )
            .map_err(|e| e.to_string())?;
        }
        prev_ts = Some((ts, offset));
    }
    writeln!(out, "Index verification: {} error(s)", errors).map_err(|e| e.to_string())?;
    Ok(errors)
}

/// What verifying a segment's transaction index knows of one producer's transaction.
#[derive(Clone, Copy)]
enum TxnSeen {
    /// Data seen with no marker before it in the segment: the transaction started at or
    /// before this offset (possibly in an earlier segment).
    StartedBy(i64),
    /// Data seen after a marker: the transaction started exactly here.
    StartedAt(i64),
    /// A marker and no data since: no transaction.
    Closed,
}

/// Checks the `.txnindex` against the segment's batches: every entry must name an ABORT
/// marker of its producer at its last offset, with a last stable offset not past the marker;
/// every ABORT marker ending a transaction with data in this segment must have its entry,
/// with the first offset the segment shows (or an earlier one when the transaction may have
/// started in an earlier segment); a marker whose producer the segment shows nothing of
/// before may have one, starting before the segment. Returns the errors found.
fn verify_txn_index(
    dir: &Path,
    base: i64,
    batches: &[BatchInfo],
    out: &mut dyn Write,
) -> Result<u64, String> {
    let path = layout::txn_index_file(dir, base);
    let mut report = |msg: String| writeln!(out, "{msg}").map_err(|e| e.to_string());
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            report(format!(
                "Transaction index {} is missing (start-up rebuilds it)",
                path.display()
            ))?;
            report("Transaction index verification: 1 error(s)".into())?;
            return Ok(1);
        }
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    let next = batches.last().map_or(base, |b| b.header.last_offset() + 1);
    let entries = match txn_index::parse(&bytes, base, next) {
        Ok(e) => e,
        Err(e) => {
            report(format!(
                "Transaction index {} is invalid: {e}",
                path.display()
            ))?;
            report("Transaction index verification: 1 error(s)".into())?;
            return Ok(1);
        }
    };
    let mut errors = 0u64;
    let mut seen: std::collections::HashMap<i64, TxnSeen> = Default::default();
    let mut matched = vec![false; entries.len()];
    for b in batches {
        let h = &b.header;
        if h.producer_id < 0 || !h.is_transactional() {
            continue;
        }
        let state = seen.get(&h.producer_id).copied();
        if !h.is_control() {
            let next = match state {
                None => TxnSeen::StartedBy(h.base_offset),
                Some(TxnSeen::Closed) => TxnSeen::StartedAt(h.base_offset),
                Some(s) => s,
            };
            seen.insert(h.producer_id, next);
            continue;
        }
        seen.insert(h.producer_id, TxnSeen::Closed);
        if !b.marker.is_some_and(|m| m.kind == ControlType::Abort) {
            continue;
        }
        let entry = entries
            .iter()
            .position(|e| e.last_offset == h.base_offset && e.producer_id == h.producer_id);
        let fits = |first: i64| match state {
            None => first < base,
            Some(TxnSeen::StartedBy(o)) => first <= o,
            Some(TxnSeen::StartedAt(o)) => first == o,
            Some(TxnSeen::Closed) => false,
        };
        let required = matches!(
            state,
            Some(TxnSeen::StartedBy(_)) | Some(TxnSeen::StartedAt(_))
        );
        match entry {
            Some(i) if fits(entries[i].first_offset) => matched[i] = true,
            Some(_) | None if required => {
                errors += 1;
                report(format!(
                    "Transaction index {}: no matching entry for the transaction of producer {} aborted at offset {}",
                    path.display(),
                    h.producer_id,
                    h.base_offset
                ))?;
            }
            _ => {}
        }
    }
    for (i, e) in entries.iter().enumerate() {
        if !matched[i] || e.last_stable_offset > e.last_offset + 1 {
            errors += 1;
            report(format!(
                "Transaction index {}: entry {e:?} does not match an aborted transaction of the log",
                path.display()
            ))?;
        }
    }
    report(format!("Transaction index verification: {errors} error(s)"))?;
    Ok(errors)
}
