//! The native dialect's client frames (seed 000 ops): any text decodes to an op or to the
//! error the socket answers with, never a panic.
#![no_main]

use gateway::dialect::native::codec;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let _ = codec::parse(text);
});
