//! The Dockerfile parser, instruction parser, variable substitution and
//! .dockerignore matcher on arbitrary input: no panic, no hang.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    berth_build::exercise(text);
});
