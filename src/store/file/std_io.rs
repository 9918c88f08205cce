//! [`FileIo`] over `std::fs`, for native use and tests.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::PathBuf;

use super::FileIo;

/// The log `{dir}/{name}.log` (and the older layout's `{dir}/{name}.jsonl`).
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

    fn legacy_path(&self) -> PathBuf {
        self.dir.join(format!("{}.jsonl", self.name))
    }

    fn sync_dir(&self) -> Result<(), String> {
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| e.to_string())
    }
}

impl FileIo for StdFileIo {
    fn read(&self) -> Result<Vec<u8>, String> {
        match fs::read(self.log_path()) {
            Ok(bytes) => Ok(bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(e.to_string()),
        }
    }

    fn append(&self, bytes: &[u8]) -> Result<(), String> {
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .map_err(|e| e.to_string())?;
        f.write_all(bytes).map_err(|e| e.to_string())?;
        f.sync_data().map_err(|e| e.to_string())
    }

    fn truncate(&self, len: u64) -> Result<String, String> {
        let bytes = fs::read(self.log_path()).map_err(|e| e.to_string())?;
        let saved = self.dir.join(format!(
            "{}.log.damaged-{}",
            self.name,
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis())
                .unwrap_or_default()
        ));
        let tail = bytes.get(len as usize..).unwrap_or_default();
        let mut out = File::create(&saved).map_err(|e| e.to_string())?;
        out.write_all(tail).map_err(|e| e.to_string())?;
        out.sync_all().map_err(|e| e.to_string())?;
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
        let tmp = self.dir.join(format!("{}.log.tmp", self.name));
        let mut f = File::create(&tmp).map_err(|e| e.to_string())?;
        f.write_all(bytes).map_err(|e| e.to_string())?;
        f.sync_all().map_err(|e| e.to_string())?;
        fs::rename(&tmp, self.log_path()).map_err(|e| e.to_string())?;
        self.sync_dir()
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
