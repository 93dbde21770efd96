//! Time-limited TURN credentials (the usual "TURN REST API" scheme): the username is
//! `<expiry unix secs>:<signaling name>`, the password base64(HMAC-SHA1(secret, username)).
//! The secret is random per daemon process, so credentials die with it, and nothing but the
//! daemon can mint them. Without I/O: time is passed in.

use base64::Engine;

/// Why a username was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CredError {
    #[error("not a peerbox TURN username")]
    Malformed,
    #[error("the credentials have expired")]
    Expired,
}

impl CredError {
    pub fn reason(self) -> &'static str {
        match self {
            CredError::Malformed => "malformed",
            CredError::Expired => "expired",
        }
    }
}

pub struct Minter {
    key: ring::hmac::Key,
}

impl Minter {
    pub fn new(secret: [u8; 32]) -> Self {
        Minter {
            key: ring::hmac::Key::new(ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, &secret),
        }
    }

    /// A username and password for `name`, valid until `now + ttl` (unix seconds).
    pub fn issue(&self, name: &str, now: u64, ttl: u64) -> (String, String) {
        let username = format!("{}:{name}", now.saturating_add(ttl));
        let password = self.password(&username);
        (username, password)
    }

    pub fn password(&self, username: &str) -> String {
        let tag = ring::hmac::sign(&self.key, username.as_bytes());
        base64::engine::general_purpose::STANDARD.encode(tag.as_ref())
    }

    /// The signaling name in a username that has not expired at `now`. The password (and so
    /// the MAC) is checked by the TURN server's message-integrity check against
    /// [`Minter::password`].
    pub fn check<'a>(&self, username: &'a str, now: u64) -> Result<&'a str, CredError> {
        let (expiry, name) = username.split_once(':').ok_or(CredError::Malformed)?;
        let expiry: u64 = expiry.parse().map_err(|_| CredError::Malformed)?;
        if name.is_empty() {
            return Err(CredError::Malformed);
        }
        if expiry <= now {
            return Err(CredError::Expired);
        }
        Ok(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue_check_and_expire() {
        let m = Minter::new([3; 32]);
        let (user, pass) = m.issue("calm-otter", 1000, 600);
        assert_eq!(user, "1600:calm-otter");
        assert_eq!(m.password(&user), pass);
        assert_ne!(Minter::new([4; 32]).password(&user), pass);
        assert_eq!(m.check(&user, 1599), Ok("calm-otter"));
        assert_eq!(m.check(&user, 1600), Err(CredError::Expired));
        for bad in ["", "calm-otter", "x:calm-otter", "1600:"] {
            assert_eq!(m.check(bad, 0), Err(CredError::Malformed), "{bad}");
        }
        // RFC 2202 test case 2 for HMAC-SHA1, base64: the scheme coturn and others use.
        let k = ring::hmac::Key::new(ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, b"Jefe");
        let tag = ring::hmac::sign(&k, b"what do ya want for nothing?");
        assert_eq!(
            tag.as_ref()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>(),
            "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"
        );
    }
}
