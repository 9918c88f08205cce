//! [`FileIo`] over `std::fs`, for native use and tests.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::PathBuf;

use super::FileIo;

/// The log `{dir}/{name}.log`, its index `{dir}/{name}.index` (and the older layout's
/// `{dir}/{name}.jsonl`).
#[derive(Debug, Clone)]
pub struct StdFileIo {
    dir: PathBuf,
    name: String,
}

impl StdFileIo {
    /// The store `name` in folder `dir` (created when missing).
    pub fn new(dir: impl Into<PathBuf>, name: &str) -> std::io::Result<StdFileIo> {
        let dir = dir.into();
        fs::create_dir_all(&dir)?;
        Ok(StdFileIo {
            dir,
            name: name.to_owned(),
        })
    }

    /// The log file's path.
    pub fn log_path(&self) -> PathBuf {
        self.dir.join(format!("{}.log", self.name))
    }

    /// The index file's path.
    pub fn index_path(&self) -> PathBuf {
        self.dir.join(format!("{}.index", self.name))
    }

    /// Where a new index is written before it replaces the current one.
    fn index_tmp_path(&self) -> PathBuf {
        self.dir.join(format!("{}.index.tmp", self.name))
    }

    fn replace_file(&self, path: &std::path::Path, bytes: &[u8]) -> Result<(), String> {
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        write_synced(tmp.as_ref(), bytes)?;
        fs::rename(&tmp, path).map_err(|e| e.to_string())?;
        self.sync_dir()
    }

    fn legacy_path(&self) -> PathBuf {
        self.dir.join(format!("{}.jsonl", self.name))
    }

    fn sync_dir(&self) -> Result<(), String> {
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| e.to_string())
    }
}

/// Writes `bytes` to a new file at `path` and fsyncs it.
fn write_synced(path: &std::path::Path, bytes: &[u8]) -> Result<(), String> {
    let mut f = File::create(path).map_err(|e| e.to_string())?;
    f.write_all(bytes).map_err(|e| e.to_string())?;
    f.sync_all().map_err(|e| e.to_string())
}

impl FileIo for StdFileIo {
    fn read_from(&self, offset: u64) -> Result<Vec<u8>, String> {
        // Only what follows `offset` is read: on open, that is the log after the index.
        if self.log_size()? <= offset {
            return Ok(Vec::new());
        }
        self.read_at(offset, u64::MAX)
    }

    fn read_at(&self, offset: u64, len: u64) -> Result<Vec<u8>, String> {
        let mut f = File::open(self.log_path()).map_err(|e| e.to_string())?;
        f.seek(SeekFrom::Start(offset)).map_err(|e| e.to_string())?;
        let mut out = Vec::new();
        f.take(len)
            .read_to_end(&mut out)
            .map_err(|e| e.to_string())?;
        Ok(out)
    }

    fn log_size(&self) -> Result<u64, String> {
        match fs::metadata(self.log_path()) {
            Ok(m) => Ok(m.len()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
            Err(e) => Err(e.to_string()),
        }
    }

    fn index_size(&self) -> Result<Option<u64>, String> {
        match fs::metadata(self.index_path()) {
            Ok(m) => Ok(Some(m.len())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.to_string()),
        }
    }

    fn read_index_at(&self, offset: u64, len: u64) -> Result<Vec<u8>, String> {
        let mut f = File::open(self.index_path()).map_err(|e| e.to_string())?;
        f.seek(SeekFrom::Start(offset)).map_err(|e| e.to_string())?;
        let mut out = Vec::new();
        f.take(len)
            .read_to_end(&mut out)
            .map_err(|e| e.to_string())?;
        Ok(out)
    }

    fn begin_index(&self) -> Result<(), String> {
        File::create(self.index_tmp_path())
            .map(drop)
            .map_err(|e| e.to_string())
    }

    fn append_index(&self, bytes: &[u8]) -> Result<(), String> {
        OpenOptions::new()
            .append(true)
            .open(self.index_tmp_path())
            .and_then(|mut f| f.write_all(bytes))
            .map_err(|e| e.to_string())
    }

    fn commit_index(&self) -> Result<(), String> {
        File::open(self.index_tmp_path())
            .and_then(|f| f.sync_all())
            .map_err(|e| e.to_string())?;
        fs::rename(self.index_tmp_path(), self.index_path()).map_err(|e| e.to_string())?;
        self.sync_dir()
    }

    fn fresh_id(&self) -> String {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        format!("{nanos:x}-{:x}", std::process::id())
    }

    fn append(&self, at: u64, bytes: &[u8]) -> Result<(), String> {
        // Positioned, not O_APPEND: a retry after a failed write lands where the store
        // expects it, whatever the failed one left.
        let mut f = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.log_path())
            .map_err(|e| e.to_string())?;
        f.seek(SeekFrom::Start(at)).map_err(|e| e.to_string())?;
        f.write_all(bytes).map_err(|e| e.to_string())?;
        f.sync_data().map_err(|e| e.to_string())?;
        if at == 0 {
            // A new log: make its name durable too.
            self.sync_dir()?;
        }
        Ok(())
    }

    fn set_len(&self, len: u64) -> Result<(), String> {
        let f = OpenOptions::new()
            .write(true)
            .open(self.log_path())
            .map_err(|e| e.to_string())?;
        f.set_len(len).map_err(|e| e.to_string())?;
        f.sync_all().map_err(|e| e.to_string())
    }

    fn keep_aside(&self, at: u64, bytes: &[u8]) -> Result<String, String> {
        let saved = self.dir.join(format!(
            "{}.log.damaged-{}-at-{at}",
            self.name,
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis())
                .unwrap_or_default()
        ));
        write_synced(&saved, bytes)?;
        self.sync_dir()?;
        Ok(saved.display().to_string())
    }

    fn truncate(&self, len: u64) -> Result<String, String> {
        let saved = self.dir.join(format!(
            "{}.log.damaged-{}",
            self.name,
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis())
                .unwrap_or_default()
        ));
        write_synced(&saved, &self.read_from(len)?)?;
        let f = OpenOptions::new()
            .write(true)
            .open(self.log_path())
            .map_err(|e| e.to_string())?;
        f.set_len(len).map_err(|e| e.to_string())?;
        f.sync_all().map_err(|e| e.to_string())?;
        self.sync_dir()?;
        Ok(saved.display().to_string())
    }

    fn replace(&self, bytes: &[u8]) -> Result<(), String> {
        self.replace_file(&self.log_path(), bytes)
    }

    fn read_legacy(&self) -> Result<Option<String>, String> {
        match fs::read_to_string(self.legacy_path()) {
            Ok(text) => Ok(Some(text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.to_string()),
        }
    }

    fn retire_legacy(&self) -> Result<(), String> {
        let mut to = self.legacy_path();
        to.set_extension("jsonl.migrated");
        fs::rename(self.legacy_path(), to).map_err(|e| e.to_string())
    }
}
