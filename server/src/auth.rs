//! Tenants, keys and scopes.
//!
//! Every key belongs to one tenant (a project) and holds scopes: `read` (the history, stats,
//! lineage and push stream), `write` (ingest) and `admin` (both, and the test endpoints).
//! Keys are kept as SHA-256 hashes: a presented key is hashed and looked up, so the keys
//! file never holds a usable secret. A server without any key is open and everything lands in
//! the default tenant (the empty name), as a single-team server always did.

use std::collections::HashMap;
use std::fmt;

use sha2::{Digest, Sha256};

/// What a key may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Read executions, stats, lineage and the push stream.
    Read,
    /// Send batches to `POST /v1/ingest`.
    Write,
    /// Read and write, and the `--test-faults` endpoints.
    Admin,
}

impl Scope {
    fn parse(name: &str) -> Option<Scope> {
        match name {
            "read" => Some(Scope::Read),
            "write" => Some(Scope::Write),
            "admin" => Some(Scope::Admin),
            _ => None,
        }
    }

    /// The name used in key lines and error messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Write => "write",
            Scope::Admin => "admin",
        }
    }
}

/// The tenant everything belongs to on a keyless server, and the tenant of `--api-key` and
/// `--read-key` keys.
pub const DEFAULT_TENANT: &str = "";

/// Who is calling: the tenant whose data the request sees, and which key (for rate limits
/// and logs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    /// The tenant; every query and write is scoped to it.
    pub tenant: String,
    /// A short, non-secret name of the key: the first 12 hex digits of its hash
    /// (`anonymous` on a keyless server).
    pub key_id: String,
}

/// One configured key.
#[derive(Clone, Debug)]
struct Key {
    tenant: String,
    scopes: Vec<Scope>,
}

impl Key {
    fn allows(&self, scope: Scope) -> bool {
        self.scopes.contains(&scope) || self.scopes.contains(&Scope::Admin)
    }
}

/// Why a key line or flag was refused at start.
#[derive(Debug, PartialEq, Eq)]
pub struct KeyLineError(pub String);

impl fmt::Display for KeyLineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why a request was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum Denied {
    /// No key, or a key the server does not know.
    Unknown,
    /// A known key without the scope the route needs.
    Scope(Scope),
}

/// The configured keys, by the hex SHA-256 of the key.
#[derive(Clone, Debug, Default)]
pub struct KeyRing {
    keys: HashMap<String, Key>,
}

/// The hex SHA-256 of a key: what the keys file stores (`runledger-server hash-key`).
pub fn hash_key(key: &str) -> String {
    hash_bytes(key.as_bytes())
}

/// The hex SHA-256 of bytes.
pub fn hash_bytes(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn valid_tenant(name: &str) -> bool {
    name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

impl KeyRing {
    /// True when no key is configured: the server is open.
    pub fn is_open(&self) -> bool {
        self.keys.is_empty()
    }

    /// How many keys are configured.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Adds a plain key of the default tenant (`--api-key`, `--read-key`).
    pub fn add_plain(&mut self, key: &str, scopes: &[Scope]) -> Result<(), KeyLineError> {
        if key.is_empty() {
            return Err(KeyLineError("an empty key is not a key".into()));
        }
        self.insert(hash_key(key), DEFAULT_TENANT.into(), scopes.to_vec())
    }

    /// Adds a hashed key line `TENANT:SCOPE[,SCOPE…]:SHA256HEX` (the tenant may be empty:
    /// the default tenant).
    pub fn add_line(&mut self, line: &str) -> Result<(), KeyLineError> {
        let mut parts = line.split(':');
        let (Some(tenant), Some(scopes), Some(hash), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(KeyLineError(
                "expected TENANT:SCOPE[,SCOPE]:SHA256 (three fields separated by `:`)".into(),
            ));
        };
        let tenant = tenant.trim();
        if !valid_tenant(tenant) {
            return Err(KeyLineError(format!(
                "tenant `{tenant}` must be at most 64 of A-Z a-z 0-9 - _ ."
            )));
        }
        let scopes = scopes
            .split(',')
            .map(|s| {
                Scope::parse(s.trim()).ok_or_else(|| {
                    KeyLineError(format!(
                        "scope `{}` is not one of read, write, admin",
                        s.trim()
                    ))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let hash = hash.trim().to_ascii_lowercase();
        if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(KeyLineError(
                "the third field must be the key's SHA-256 in 64 hex digits (runledger-server hash-key)"
                    .into(),
            ));
        }
        self.insert(hash, tenant.into(), scopes)
    }

    fn insert(
        &mut self,
        hash: String,
        tenant: String,
        scopes: Vec<Scope>,
    ) -> Result<(), KeyLineError> {
        if let Some(existing) = self.keys.get(&hash) {
            if existing.tenant != tenant {
                return Err(KeyLineError(format!(
                    "key {} is configured for two tenants (`{}` and `{tenant}`)",
                    &hash[..12],
                    existing.tenant
                )));
            }
        }
        let key = self.keys.entry(hash).or_insert(Key {
            tenant,
            scopes: Vec::new(),
        });
        for scope in scopes {
            if !key.scopes.contains(&scope) {
                key.scopes.push(scope);
            }
        }
        Ok(())
    }

    /// The caller a presented key (if any) stands for, when it holds `scope`.
    pub fn authorize(&self, presented: Option<&str>, scope: Scope) -> Result<Caller, Denied> {
        if self.is_open() {
            return Ok(Caller {
                tenant: DEFAULT_TENANT.into(),
                key_id: "anonymous".into(),
            });
        }
        let hash = hash_key(presented.ok_or(Denied::Unknown)?);
        let key = self.keys.get(&hash).ok_or(Denied::Unknown)?;
        if !key.allows(scope) {
            return Err(Denied::Scope(scope));
        }
        Ok(Caller {
            tenant: key.tenant.clone(),
            key_id: hash[..12].to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_like_sha256sum() {
        assert_eq!(
            hash_key("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn key_lines_scope_and_tenant() {
        let mut ring = KeyRing::default();
        ring.add_line(&format!("team-a:write:{}", hash_key("ka")))
            .unwrap();
        ring.add_line(&format!("team-b:read, write:{}", hash_key("kb")))
            .unwrap();
        ring.add_line(&format!(":admin:{}", hash_key("root")))
            .unwrap();
        let a = ring.authorize(Some("ka"), Scope::Write).unwrap();
        assert_eq!(a.tenant, "team-a");
        assert_eq!(a.key_id, &hash_key("ka")[..12]);
        assert_eq!(
            ring.authorize(Some("ka"), Scope::Read),
            Err(Denied::Scope(Scope::Read))
        );
        assert_eq!(
            ring.authorize(Some("kb"), Scope::Read).unwrap().tenant,
            "team-b"
        );
        assert_eq!(
            ring.authorize(Some("root"), Scope::Read).unwrap().tenant,
            ""
        );
        assert_eq!(
            ring.authorize(Some("nope"), Scope::Read),
            Err(Denied::Unknown)
        );
        assert_eq!(ring.authorize(None, Scope::Read), Err(Denied::Unknown));
    }

    #[test]
    fn bad_lines_name_the_problem() {
        let mut ring = KeyRing::default();
        let h = hash_key("k");
        for (line, says) in [
            ("plain-key", "three fields"),
            (&format!("a:b:c:{h}") as &str, "three fields"),
            (&format!("team a:read:{h}"), "tenant `team a`"),
            (&format!("t:delete:{h}"), "scope `delete`"),
            ("t:read:abc", "64 hex digits"),
        ] {
            let e = ring.add_line(line).unwrap_err();
            assert!(e.0.contains(says), "{line}: {e}");
        }
        ring.add_line(&format!("t1:read:{h}")).unwrap();
        assert!(ring
            .add_line(&format!("t2:read:{h}"))
            .unwrap_err()
            .0
            .contains("two tenants"));
    }

    #[test]
    fn an_open_ring_lets_everyone_into_the_default_tenant() {
        let ring = KeyRing::default();
        let caller = ring.authorize(None, Scope::Write).unwrap();
        assert_eq!(caller.tenant, DEFAULT_TENANT);
    }
}
