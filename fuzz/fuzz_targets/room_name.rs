//! Room names: a name either is refused or parses to a room that prints back as the same
//! name (so one room never has two spellings in Redis).
#![no_main]

use libfuzzer_sys::fuzz_target;
use shared::room::Room;

fuzz_target!(|name: &str| {
    if let Ok(room) = name.parse::<Room>() {
        assert_eq!(room.to_string(), name);
    }
});
