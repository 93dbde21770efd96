//! Resume tokens that outlive the daemon.
//!
//! A token names the name it takes back and carries a BLAKE3 MAC under a key kept in the state
//! directory, so after a daemon restart (when the in-memory reservations are gone) a phone that
//! reconnects still gets its name back, as long as nobody else took it meanwhile. A nonce per
//! issue keeps two issues of the same name apart: a live or reserved name can only be taken
//! back with the exact token it was issued with.

use std::path::Path;

/// Bytes of key material; BLAKE3's keyed mode wants exactly this.
pub const KEY_LEN: usize = 32;
const KEY_FILE: &str = "signal.key";

#[derive(Clone)]
pub struct Tokens {
    key: [u8; KEY_LEN],
}

impl Tokens {
    pub fn new(key: [u8; KEY_LEN]) -> Self {
        Tokens { key }
    }

    /// `hex(name) "." hex(nonce) "." hex(mac)`: hex keeps it safe in a query string.
    pub fn issue(&self, name: &str, nonce: [u8; 8]) -> String {
        let mac = self.mac(name.as_bytes(), &nonce);
        format!("{}.{}.{}", hex(name.as_bytes()), hex(&nonce), mac.to_hex())
    }

    /// The name a well-formed, authentic token was issued for.
    pub fn verify(&self, token: &str) -> Option<String> {
        let mut parts = token.split('.');
        let (name, nonce, mac) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let name = unhex(name)?;
        let nonce = unhex(nonce)?;
        let mac = blake3::Hash::from_hex(mac).ok()?;
        // `blake3::Hash` compares in constant time.
        (self.mac(&name, &nonce) == mac)
            .then(|| String::from_utf8(name).ok())
            .flatten()
    }

    fn mac(&self, name: &[u8], nonce: &[u8]) -> blake3::Hash {
        let mut h = blake3::Hasher::new_keyed(&self.key);
        h.update(&(name.len() as u64).to_le_bytes());
        h.update(name);
        h.update(nonce);
        h.finalize()
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 || s.len() > 512 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Reads the token key from the state directory, creating it (mode 0600) on first start.
/// A key that cannot be kept only costs names across restarts, so callers fall back to a
/// random one.
pub fn load_or_create_key(state_dir: &Path) -> std::io::Result<[u8; KEY_LEN]> {
    let path = state_dir.join(KEY_FILE);
    match std::fs::read(&path) {
        Ok(bytes) if bytes.len() == KEY_LEN => {
            let mut key = [0; KEY_LEN];
            key.copy_from_slice(&bytes);
            return Ok(key);
        }
        Ok(_) => {
            tracing::warn!(path = %path.display(), "token key has the wrong size; replacing it")
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let key: [u8; KEY_LEN] = rand::random();
    std::fs::create_dir_all(state_dir)?;
    crate::durable::write_atomic(&path, &key, 0o600)?;
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_tamper() {
        let t = Tokens::new([7; KEY_LEN]);
        let tok = t.issue("Calm Otter", [1; 8]);
        assert_eq!(t.verify(&tok).as_deref(), Some("Calm Otter"));
        assert_ne!(tok, t.issue("Calm Otter", [2; 8]));
        // Another name under the same MAC, another key, garbage: all refused.
        let forged = tok.replacen(&hex(b"Calm Otter"), &hex(b"Calm Ottex"), 1);
        assert_eq!(t.verify(&forged), None);
        assert_eq!(Tokens::new([8; KEY_LEN]).verify(&tok), None);
        for bad in ["", "..", "zz.00.00", "00", &format!("{tok}.00")] {
            assert_eq!(t.verify(bad), None, "{bad}");
        }
    }

    #[test]
    fn key_is_kept_and_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let a = load_or_create_key(dir.path()).unwrap();
        let b = load_or_create_key(dir.path()).unwrap();
        assert_eq!(a, b);
        let mode = std::fs::metadata(dir.path().join(KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
