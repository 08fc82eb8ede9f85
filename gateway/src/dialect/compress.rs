//! zlib on the wire, the two ways the dialects' original services used it:
//!
//! - **transport** (`?compress=zlib-stream`, native and Discord): one deflate context for
//!   the socket's whole life; each message is the context's output up to a sync flush, so it
//!   ends in `00 00 ff ff` and a client inflates the concatenation of all binary frames with
//!   one inflater. Later messages reuse earlier ones' bytes: cheap on the wire, but the
//!   context costs memory per socket (see docs/PERFORMANCE.md). Its blocks use the fixed
//!   Huffman codes: each message is its own small block, and building a dynamic code for each
//!   took 40 % of the gateway's CPU at 50,000 compressed deliveries/s, for about the same
//!   size on the wire.
//! - **whole** (Discord's `compress: true` READY, Lanyard's `?compression=zlib_json`): each
//!   message its own complete zlib stream (RFC 1950, header and checksum), inflatable alone.

use crate::session::pump::Encoder;
use axum::{
    Json,
    extract::ws::Message,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use flate2::{Compression, write::ZlibEncoder};
use miniz_oxide::deflate::core::{
    CompressionStrategy, CompressorOxide, TDEFLFlush, TDEFLStatus, compress,
    create_comp_flags_from_zip_params,
};
use std::io::Write;

/// Transport compression a client asked for with `?compress=`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    ZlibStream,
}

impl Transport {
    /// `?compress=`: absent, or `zlib-stream`; anything else is refused before the upgrade.
    pub fn parse(value: Option<&str>) -> Result<Option<Transport>, Refused> {
        match value {
            None => Ok(None),
            Some("zlib-stream") => Ok(Some(Transport::ZlibStream)),
            Some(_) => Err(Refused),
        }
    }
}

/// An unknown `?compress=` value: HTTP 400 with the JSON error body.
pub struct Refused;

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        let body =
            serde_json::json!({"error": "compress must be `zlib-stream`", "code": "bad_compress"});
        (StatusCode::BAD_REQUEST, Json(body)).into_response()
    }
}

/// One complete zlib stream holding `bytes`.
pub fn whole(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = ZlibEncoder::new(
        Vec::with_capacity(bytes.len() / 2 + 16),
        Compression::fast(),
    );
    encoder
        .write_all(bytes)
        .and_then(|()| encoder.finish())
        .expect("writing to a Vec cannot fail")
}

/// The payload of a data message (a close or control message has none to compress).
fn payload(message: &Message) -> Option<&[u8]> {
    match message {
        Message::Text(text) => Some(text.as_bytes()),
        Message::Binary(bytes) => Some(bytes),
        _ => None,
    }
}

/// An encoder that compresses every message its inner encoder makes into its own zlib stream.
pub struct Whole<E>(pub E);

impl<E: Encoder> Encoder for Whole<E> {
    fn encode(&mut self, message: &Message, seq: u64) -> Message {
        let message = self.0.encode(message, seq);
        match payload(&message) {
            Some(bytes) => Message::Binary(whole(bytes).into()),
            None => message,
        }
    }
}

/// An encoder that sends what its inner encoder makes through the socket's one zlib context,
/// each message ending at a sync flush.
pub struct Stream<E> {
    inner: E,
    /// Boxed: the context is large and moves with the pump.
    deflate: Box<CompressorOxide>,
}

/// Level 1 (the fastest), a zlib header, a 32 KiB window, fixed Huffman codes.
const STREAM_FLAGS: u32 =
    create_comp_flags_from_zip_params(1, 15, CompressionStrategy::Fixed as i32);

impl<E> Stream<E> {
    pub fn new(inner: E) -> Self {
        Stream {
            inner,
            deflate: Box::new(CompressorOxide::new(STREAM_FLAGS)),
        }
    }

    /// `bytes` through the context, up to and including the sync flush's `00 00 ff ff`.
    fn compress(&mut self, bytes: &[u8]) -> Vec<u8> {
        // Room for the worst case (fixed codes spend at most 9 bits on a byte, plus the block
        // and flush marks), so that one call takes the input and the flush whole.
        let mut out = vec![0; bytes.len() + bytes.len() / 8 + 64];
        let (mut read, mut written) = (0, 0);
        loop {
            let (status, r, w) = compress(
                &mut self.deflate,
                &bytes[read..],
                &mut out[written..],
                TDEFLFlush::Sync,
            );
            assert_eq!(status, TDEFLStatus::Okay, "deflate over memory cannot fail");
            (read, written) = (read + r, written + w);
            // Done once the input is in and the output stopped short of the buffer's end;
            // otherwise the rest of the flush is waiting: grow the buffer and go on.
            if read == bytes.len() && written < out.len() {
                out.truncate(written);
                return out;
            }
            out.resize(out.len() * 2, 0);
        }
    }
}

impl<E: Encoder> Encoder for Stream<E> {
    fn encode(&mut self, message: &Message, seq: u64) -> Message {
        let message = self.inner.encode(message, seq);
        match payload(&message) {
            Some(bytes) => Message::Binary(self.compress(bytes).into()),
            None => message,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::{Decompress, FlushDecompress, read::ZlibDecoder};
    use std::io::Read;

    fn text(s: &str) -> Message {
        Message::Text(s.into())
    }

    fn bytes(m: Message) -> Vec<u8> {
        match m {
            Message::Binary(b) => b.to_vec(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn whole_messages_inflate_alone() {
        let mut encoder = Whole(|m: &Message, _| m.clone());
        for body in ["{\"op\":1}", &"x".repeat(100_000)] {
            let compressed = bytes(encoder.encode(&text(body), 1));
            assert_eq!(&compressed[..1], &[0x78], "a zlib header");
            let mut out = String::new();
            ZlibDecoder::new(&compressed[..])
                .read_to_string(&mut out)
                .unwrap();
            assert_eq!(out, body);
        }
    }

    #[test]
    fn stream_messages_end_in_the_sync_suffix_and_inflate_in_order() {
        let mut encoder = Stream::new(|m: &Message, _| m.clone());
        let mut inflate = Decompress::new(true);
        let bodies = [
            "{\"t\":\"READY\"}".to_owned(),
            "y".repeat(200_000),
            "{}".into(),
        ];
        for body in &bodies {
            let compressed = bytes(encoder.encode(&text(body), 1));
            assert!(compressed.ends_with(&[0, 0, 0xff, 0xff]));
            let mut out = Vec::with_capacity(body.len() + 64);
            inflate
                .decompress_vec(&compressed, &mut out, FlushDecompress::Sync)
                .unwrap();
            assert_eq!(String::from_utf8(out).unwrap(), *body);
        }
    }

    #[test]
    fn transport_names_one_scheme() {
        assert_eq!(Transport::parse(None).ok(), Some(None));
        assert_eq!(
            Transport::parse(Some("zlib-stream")).ok(),
            Some(Some(Transport::ZlibStream))
        );
        assert!(Transport::parse(Some("zstd-stream")).is_err());
    }
}
