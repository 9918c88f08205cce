//! Builds the key ring from the flags and the keys file, naming the line of any bad entry.

use std::path::Path;

use crate::auth::{KeyRing, Scope};

/// Where keys come from.
pub struct KeySources<'a> {
    /// `--api-key`: plain default-tenant keys that read and write.
    pub api_keys: &'a [String],
    /// `--read-key`: plain default-tenant keys that only read.
    pub read_keys: &'a [String],
    /// `--tenant-key`: hashed `TENANT:SCOPES:SHA256` entries.
    pub tenant_keys: &'a [String],
    /// `--api-keys-file`.
    pub file: Option<&'a Path>,
}

/// The key ring, or a message naming the bad flag or file line.
pub fn key_ring(sources: &KeySources<'_>) -> Result<KeyRing, String> {
    let mut ring = KeyRing::default();
    for key in sources.api_keys {
        ring.add_plain(key, &[Scope::Read, Scope::Write])
            .map_err(|e| format!("--api-key: {e}"))?;
    }
    for key in sources.read_keys {
        ring.add_plain(key, &[Scope::Read])
            .map_err(|e| format!("--read-key: {e}"))?;
    }
    for entry in sources.tenant_keys {
        ring.add_line(entry)
            .map_err(|e| format!("--tenant-key `{entry}`: {e}"))?;
    }
    if let Some(path) = sources.file {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read --api-keys-file {}: {e}", path.display()))?;
        let mut plain = 0;
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let at = || format!("--api-keys-file {} line {}", path.display(), n + 1);
            // Two `:`s make a hashed line; fewer, the older plain `KEY` or `read:KEY`.
            let added = if line.matches(':').count() >= 2 {
                ring.add_line(line)
            } else {
                plain += 1;
                match line.strip_prefix("read:") {
                    Some(key) => ring.add_plain(key.trim(), &[Scope::Read]),
                    None => ring.add_plain(line, &[Scope::Read, Scope::Write]),
                }
            };
            added.map_err(|e| format!("{}: {e}", at()))?;
        }
        if plain > 0 {
            tracing::warn!(
                plain,
                file = %path.display(),
                "keys file holds plain-text keys; store TENANT:SCOPES:SHA256 lines instead (runledger-server hash-key)"
            );
        }
    }
    Ok(ring)
}
