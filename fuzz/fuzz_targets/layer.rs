//! The layer applier on arbitrary bytes (tar streams, plain or compressed):
//! no panic, nothing written outside the scratch root.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let dir = tempfile::tempdir().expect("scratch");
    let scratch = dir.path().join("s");
    std::fs::create_dir_all(&scratch).expect("scratch");
    if let Err(escape) = berth_layer::exercise::exercise(data, &scratch) {
        panic!("{escape}");
    }
});
