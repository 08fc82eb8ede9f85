//! The Lanyard dialect's client frames: any text decodes to an op or to the violation whose
//! close code (4004, 4005, 4006) the socket gets, never a panic.
#![no_main]

use gateway::dialect::lanyard::codec;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let _ = codec::parse(text);
});
