//! DTLS cipher suites for the CPU the seeder runs on.
//!
//! On a CPU with AES instructions (x86 `aes`+`pclmulqdq`, aarch64 `aes`+`pmull`) AES-128-GCM is
//! the cheapest AEAD; without them (Raspberry Pi 4 and Pi Zero 2 W: Cortex-A72/A53 without the
//! crypto extensions) ChaCha20-Poly1305 is several times cheaper per byte (see
//! `docs/benchmarks.md`, the Pi cost model). Browsers put AES-GCM first when *their* CPU has
//! AES, which a phone's has, so the seeder chooses as the DTLS server, in its own order.

use webrtc::peer_connection::CipherSuiteId;

use super::config::CipherChoice;

const AES_GCM: CipherSuiteId = CipherSuiteId::Tls_Ecdhe_Ecdsa_With_Aes_128_Gcm_Sha256;
const CHACHA20: CipherSuiteId = CipherSuiteId::Tls_Ecdhe_Ecdsa_With_ChaCha20_Poly1305_Sha256;

/// True when this CPU has AES and carry-less multiply instructions (AES-GCM in hardware).
pub fn cpu_has_aes() -> bool {
    #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
    {
        std::arch::is_x86_feature_detected!("aes")
            && std::arch::is_x86_feature_detected!("pclmulqdq")
    }
    #[cfg(target_arch = "aarch64")]
    {
        std::arch::is_aarch64_feature_detected!("aes")
            && std::arch::is_aarch64_feature_detected!("pmull")
    }
    // 32-bit ARM (armhf): runtime detection is not stable in Rust; the boards this build is for
    // (Pi Zero 2 W, Pi 2/3/4 on a 32-bit OS) have no crypto extensions.
    #[cfg(not(any(target_arch = "x86", target_arch = "x86_64", target_arch = "aarch64")))]
    {
        false
    }
}

/// The suites to offer, most preferred first.
pub fn suites(choice: CipherChoice, has_aes: bool) -> Vec<CipherSuiteId> {
    match choice {
        CipherChoice::AesGcm => vec![AES_GCM],
        CipherChoice::Chacha20 => vec![CHACHA20],
        CipherChoice::Auto if has_aes => vec![AES_GCM, CHACHA20],
        CipherChoice::Auto => vec![CHACHA20, AES_GCM],
    }
}

/// The short name used in logs and `/metrics` for a suite as the DTLS stack reports it.
pub fn short_name(suite: &str) -> &'static str {
    let s = suite.to_ascii_uppercase();
    if s.contains("CHACHA20") {
        "chacha20-poly1305"
    } else if s.contains("AES_128_GCM") {
        "aes-128-gcm"
    } else if s.is_empty() {
        "unknown"
    } else {
        "other"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_prefers_chacha20_without_aes_and_forced_choices_offer_one_suite() {
        assert_eq!(suites(CipherChoice::Auto, false), vec![CHACHA20, AES_GCM]);
        assert_eq!(suites(CipherChoice::Auto, true), vec![AES_GCM, CHACHA20]);
        assert_eq!(suites(CipherChoice::AesGcm, false), vec![AES_GCM]);
        assert_eq!(suites(CipherChoice::Chacha20, true), vec![CHACHA20]);
    }

    #[test]
    fn short_names() {
        assert_eq!(
            short_name(&format!("{CHACHA20}")),
            "chacha20-poly1305",
            "{CHACHA20}"
        );
        assert_eq!(short_name(&format!("{AES_GCM}")), "aes-128-gcm");
        assert_eq!(short_name(""), "unknown");
    }
}
