//! A metrics log: one JSON object per line, appended and flushed as each record arrives, so a
//! crashed run keeps everything up to its last record and `jq`/pandas read it directly.

use serde_json::Value;
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

pub struct MetricsLog {
    path: PathBuf,
    file: File,
}

impl MetricsLog {
    /// Opens `path` for appending (creating it and its folder).
    pub fn open(path: &Path) -> io::Result<MetricsLog> {
        if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(MetricsLog { path: path.to_path_buf(), file })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn write(&mut self, record: &Value) -> io::Result<()> {
        writeln!(self.file, "{record}")?;
        self.file.flush()
    }

    /// Every record of a log file, in order.
    pub fn read(path: &Path) -> io::Result<Vec<Value>> {
        let reader = BufReader::new(File::open(path)?);
        reader
            .lines()
            .filter(|l| l.as_ref().map_or(true, |l| !l.trim().is_empty()))
            .map(|l| serde_json::from_str(&l?).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m/metrics.jsonl");
        let mut log = MetricsLog::open(&path).unwrap();
        log.write(&serde_json::json!({"epoch": 1, "loss": 0.5})).unwrap();
        log.write(&serde_json::json!({"epoch": 2, "loss": 0.25})).unwrap();
        let back = MetricsLog::read(&path).unwrap();
        assert_eq!(back.len(), 2);
        assert_eq!(back[1]["loss"], 0.25);
    }
}
