//! Replacing segments with cleaned ones so that a crash at any step leaves either the old
//! segments or the new ones, never a mix (Kafka's protocol):
//!
//! 1. the cleaner writes each new segment as `<base>.log.cleaned`, `.index.cleaned`,
//!    `.timeindex.cleaned` and `.txnindex.cleaned` (always present, maybe empty), flushed;
//! 2. [`commit`]: each new segment's `.txnindex.cleaned` then `.log.cleaned` are renamed
//!    to `.swap`. The first `.log.swap` rename is the commit point of the whole cleaning:
//!    from there on recovery completes the swap of every new segment;
//! 3. the old segments' files are deleted;
//! 4. [`finish`]: the indexes, then `.txnindex.swap`, then `.log.swap` take their names.
//!
//! [`recover`], at open: without a `.log.swap` the cleaning was not committed and its
//! `.cleaned` and `.swap` files go. With one, the commit is completed first (the `.log`
//! and `.txnindex` `.cleaned` files renamed to `.swap`, the index ones deleted). For each
//! `<base>.log.swap`, the segments it replaces are those with base offsets from `base` up
//! to its end (the cleaner makes every replaced segment's base offset fall there, see
//! `Rewriter::write_groups`): their files are deleted, then the swap files take their
//! names, and the segment's offset and time indexes are rebuilt. A `.log.swap` without a
//! `.txnindex.swap` had it renamed into place already, so that `.txnindex` is kept.
//!
//! A whole cleaning is one swap, so a crash leaves the log as it was before the cleaning or
//! as after it. Kafka swaps each group of segments on its own.

use crate::error::{IoContext, Result};
use crate::layout::{
    file_names, parse_offset_file_name, segment_file, temp_segment_file, CLEANED_SUFFIX, LOG_SUFFIX,
    OFFSET_INDEX_SUFFIX, SWAP_SUFFIX, TIME_INDEX_SUFFIX, TXN_INDEX_SUFFIX,
};
use crate::segment::remove_if_present;
use crate::small_file::sync_dir;
use std::collections::BTreeSet;
use std::fs::{self, File};
use std::os::unix::fs::FileExt;
use std::path::Path;
use tidelog_protocol::records::{BatchHeader, HEADER_LEN};
use tracing::{info, warn};

/// Makes sure the cleaned segment at `base` has its `.txnindex.cleaned` (the transaction
/// index is created with its first entry), which recovery relies on.
pub(crate) fn ensure_cleaned_txn_index(dir: &Path, base: i64) -> Result<()> {
    let path = temp_segment_file(dir, base, TXN_INDEX_SUFFIX, CLEANED_SUFFIX);
    if !path.exists() {
        File::create(&path)
            .context("create", &path)?
            .sync_all()
            .context("fsync", &path)?;
    }
    Ok(())
}

/// Step 2: commits the cleaned segments at `bases`.
pub(crate) fn commit(dir: &Path, bases: &[i64]) -> Result<()> {
    for &base in bases {
        for suffix in [TXN_INDEX_SUFFIX, LOG_SUFFIX] {
            rename(
                &temp_segment_file(dir, base, suffix, CLEANED_SUFFIX),
                &temp_segment_file(dir, base, suffix, SWAP_SUFFIX),
            )?;
        }
    }
    sync_dir(dir)
}

/// Step 4, once the replaced segments' files are gone.
pub(crate) fn finish(dir: &Path, bases: &[i64]) -> Result<()> {
    for &base in bases {
        for suffix in [OFFSET_INDEX_SUFFIX, TIME_INDEX_SUFFIX] {
            rename(
                &temp_segment_file(dir, base, suffix, CLEANED_SUFFIX),
                &segment_file(dir, base, suffix),
            )?;
        }
        for suffix in [TXN_INDEX_SUFFIX, LOG_SUFFIX] {
            rename(
                &temp_segment_file(dir, base, suffix, SWAP_SUFFIX),
                &segment_file(dir, base, suffix),
            )?;
        }
    }
    sync_dir(dir)
}

/// Drops the `.cleaned` files of a cleaning that is not installed.
pub(crate) fn discard(dir: &Path, bases: &[i64]) -> Result<()> {
    for &base in bases {
        for suffix in [LOG_SUFFIX, OFFSET_INDEX_SUFFIX, TIME_INDEX_SUFFIX, TXN_INDEX_SUFFIX] {
            remove_if_present(&temp_segment_file(dir, base, suffix, CLEANED_SUFFIX))?;
        }
    }
    Ok(())
}

/// Completes or rolls back what a crash interrupted (see the module doc) and returns the
/// base offsets of the segments swapped in, whose offset and time indexes must be rebuilt.
/// `names` lists `dir`, and is listed again if anything in it changed.
pub(crate) fn recover(dir: &Path, names: &mut Vec<String>) -> Result<BTreeSet<i64>> {
    let interrupted =
        |name: &String| name.ends_with(&format!(".{CLEANED_SUFFIX}")) || name.ends_with(&format!(".{SWAP_SUFFIX}"));
    if !names.iter().any(interrupted) {
        return Ok(BTreeSet::new());
    }
    let swapped = complete_or_roll_back(dir, names)?;
    *names = file_names(dir)?;
    Ok(swapped)
}

fn complete_or_roll_back(dir: &Path, names: &[String]) -> Result<BTreeSet<i64>> {
    let mut cleaned = Vec::new();
    let mut log_swaps = BTreeSet::new();
    let mut txn_swaps = BTreeSet::new();
    let mut segments = BTreeSet::new();
    for name in names {
        let path = dir.join(name);
        if let Some(unfinished) = name.strip_suffix(&format!(".{CLEANED_SUFFIX}")) {
            cleaned.push((path.clone(), unfinished.to_string()));
        } else if let Some(swapped) = name.strip_suffix(&format!(".{SWAP_SUFFIX}")) {
            if let Some(base) = parse_offset_file_name(swapped, LOG_SUFFIX) {
                log_swaps.insert(base);
            } else if let Some(base) = parse_offset_file_name(swapped, TXN_INDEX_SUFFIX) {
                txn_swaps.insert(base);
            } else {
                remove_if_present(&path)?;
            }
        } else if let Some(base) = parse_offset_file_name(name, LOG_SUFFIX) {
            segments.insert(base);
        }
    }
    // One `.log.swap` means the cleaning was committed: its other segments, whose renames
    // the crash interrupted, were complete and flushed before the first rename.
    let committed = !log_swaps.is_empty();
    for (path, unfinished) in cleaned {
        let log = parse_offset_file_name(&unfinished, LOG_SUFFIX);
        let txn_index = parse_offset_file_name(&unfinished, TXN_INDEX_SUFFIX);
        match (committed, log, txn_index) {
            (true, Some(base), _) => {
                rename(&path, &temp_segment_file(dir, base, LOG_SUFFIX, SWAP_SUFFIX))?;
                log_swaps.insert(base);
            }
            (true, _, Some(base)) => {
                rename(&path, &temp_segment_file(dir, base, TXN_INDEX_SUFFIX, SWAP_SUFFIX))?;
                txn_swaps.insert(base);
            }
            _ => {
                info!(file = %path.display(), "deleting the file of a cleaning not completed");
                remove_if_present(&path)?;
            }
        }
    }
    if !committed {
        for &base in &txn_swaps {
            remove_if_present(&temp_segment_file(dir, base, TXN_INDEX_SUFFIX, SWAP_SUFFIX))?;
        }
        return Ok(log_swaps);
    }
    for &base in &log_swaps {
        let end = swap_end_offset(dir, base)?.max(base + 1);
        let has_txn_swap = txn_swaps.contains(&base);
        for &replaced in segments.range(base..end).chain([base].iter()) {
            for suffix in [LOG_SUFFIX, OFFSET_INDEX_SUFFIX, TIME_INDEX_SUFFIX] {
                remove_if_present(&segment_file(dir, replaced, suffix))?;
            }
            if replaced != base || has_txn_swap {
                remove_if_present(&segment_file(dir, replaced, TXN_INDEX_SUFFIX))?;
            }
        }
        if has_txn_swap {
            rename(
                &temp_segment_file(dir, base, TXN_INDEX_SUFFIX, SWAP_SUFFIX),
                &segment_file(dir, base, TXN_INDEX_SUFFIX),
            )?;
        }
        rename(
            &temp_segment_file(dir, base, LOG_SUFFIX, SWAP_SUFFIX),
            &segment_file(dir, base, LOG_SUFFIX),
        )?;
        warn!(dir = %dir.display(), base, end, "completed an interrupted swap of cleaned segments");
    }
    sync_dir(dir)?;
    Ok(log_swaps)
}

/// The offset after the last batch of `<base>.log.swap` (its base offset when empty),
/// from batch headers. The file was flushed before its commit, so it ends at a batch.
fn swap_end_offset(dir: &Path, base: i64) -> Result<i64> {
    let path = temp_segment_file(dir, base, LOG_SUFFIX, SWAP_SUFFIX);
    let file = File::open(&path).context("open", &path)?;
    let len = file.metadata().context("stat", &path)?.len();
    let (mut position, mut end) = (0u64, base);
    let mut buf = [0u8; HEADER_LEN];
    while position + HEADER_LEN as u64 <= len {
        file.read_exact_at(&mut buf, position).context("read", &path)?;
        let Ok(header) = BatchHeader::parse(&buf) else { break };
        end = header.last_offset() + 1;
        position += header.size_in_bytes() as u64;
    }
    Ok(end)
}

fn rename(from: &Path, to: &Path) -> Result<()> {
    fs::rename(from, to).context("rename", from)
}
