#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    peerbox_fuzz::invariants::frame_decode(data);
    // The same bytes read as (transfer_id, offset, payload) also exercise encode -> decode.
    if data.len() >= 12 {
        let id = u32::from_be_bytes(data[0..4].try_into().unwrap());
        let offset = u64::from_be_bytes(data[4..12].try_into().unwrap());
        peerbox_fuzz::invariants::frame_roundtrip(id, offset, &data[12..]);
    }
});
