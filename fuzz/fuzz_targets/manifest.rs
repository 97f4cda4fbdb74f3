//! The registry server's manifest, index and referrers checks on arbitrary
//! bodies under every content type a client may claim: no panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    berth_registry::repo::exercise(data);
});
