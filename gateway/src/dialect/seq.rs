//! The session's sequence number, written into a frame as it goes out: each dialect says
//! where (native: a last `"seq"` field; Discord: a last `"s"`; Lanyard: `"seq"` after `op`).

use axum::extract::ws::{Message, Utf8Bytes};

/// `head`, then `field` and `seq`'s digits, then `tail`, as a text frame. Once per delivery:
/// built in one allocation of the right size (`format!` grew its string several times and went
/// through the formatting machinery: 39 % of a delivery's user-space instructions,
/// docs/PERFORMANCE.md).
pub fn spliced(head: &str, field: &str, seq: u64, tail: &str) -> Message {
    let mut digits = itoa::Buffer::new();
    let digits = digits.format(seq);
    let mut text = String::with_capacity(head.len() + field.len() + digits.len() + tail.len());
    text.push_str(head);
    text.push_str(field);
    text.push_str(digits);
    text.push_str(tail);
    Message::Text(Utf8Bytes::from(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_digits_go_between_field_and_tail() {
        let Message::Text(text) =
            spliced(r#"{"op":0"#, r#","s":"#, 18_446_744_073_709_551_615, "}")
        else {
            panic!("a text frame");
        };
        assert_eq!(text.as_str(), r#"{"op":0,"s":18446744073709551615}"#);
    }
}
