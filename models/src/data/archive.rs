//! Streaming over the regular files of a `.tar.gz`, with a progress bar on the compressed bytes:
//! the one place that opens tarballs, so every archive error names the archive and member. Members
//! are handed to a callback; this file decides nothing about what to keep.

use super::download::progress_bar;
use super::error::{DataError, Result};
use flate2::read::GzDecoder;
use std::fs::File;
use std::io::Read;
use std::path::Path;

/// Calls `visit(member_path, reader)` for every regular file of the gzipped tar at `path`, in
/// archive order. `show` asks for a progress bar (drawn only on a terminal).
pub fn for_each_file(path: &Path, show: bool, mut visit: impl FnMut(&Path, &mut dyn Read) -> Result<()>) -> Result<()> {
    let file = File::open(path).map_err(|e| DataError::io(path, e))?;
    let len = file.metadata().map(|m| m.len()).ok();
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let bar = progress_bar(len, &format!("reading {name}"), show);
    let mut archive = tar::Archive::new(GzDecoder::new(bar.wrap_read(file)));
    for entry in archive.entries().map_err(|e| DataError::archive(path, e))? {
        let mut entry = entry.map_err(|e| DataError::archive(path, e))?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let member = entry.path().map_err(|e| DataError::archive(path, e))?.into_owned();
        visit(&member, &mut entry)?;
    }
    bar.finish_and_clear();
    Ok(())
}

/// Reads a whole member, naming archive and member in the error.
pub fn read_member(archive: &Path, member: &Path, reader: &mut dyn Read) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    reader.read_to_end(&mut bytes).map_err(|e| DataError::archive(archive, format!("{}: {e}", member.display())))?;
    Ok(bytes)
}
