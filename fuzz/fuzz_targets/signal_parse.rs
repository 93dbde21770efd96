#![no_main]

use libfuzzer_sys::fuzz_target;

// Peers send these as text (WebSocket or DataChannel), which is always UTF-8.
fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        peerbox_fuzz::invariants::signal_parse(text);
    }
});
