//! The Discord v3 dialect's client frames: any text decodes to an op or to the violation
//! whose close code the socket gets, never a panic.
#![no_main]

use gateway::dialect::discord::codec;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let _ = codec::parse(text);
});
