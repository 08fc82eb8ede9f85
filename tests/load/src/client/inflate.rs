//! The client side of `?compress=zlib-stream`: one inflate context for the socket's life, fed
//! each binary frame in turn (each ends at the server's sync flush, so it inflates to exactly
//! one message).

use anyhow::{Context, ensure};
use flate2::{Decompress, FlushDecompress};

/// Transport compression the load generator's sockets ask for.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Compression {
    #[default]
    None,
    ZlibStream,
}

impl Compression {
    /// The query parameter that asks for it, `&`-prefixed (empty for none).
    pub fn query(self) -> &'static str {
        match self {
            Compression::None => "",
            Compression::ZlibStream => "&compress=zlib-stream",
        }
    }
}

/// A socket's inflate context and the buffer its messages are inflated into.
pub struct Inflate {
    context: Box<Decompress>,
    out: Vec<u8>,
}

impl Default for Inflate {
    fn default() -> Inflate {
        Inflate {
            context: Box::new(Decompress::new(true)),
            out: Vec::with_capacity(1024),
        }
    }
}

impl Inflate {
    /// Inflates one binary frame into the message it carries.
    pub fn message(&mut self, frame: &[u8]) -> anyhow::Result<&str> {
        self.out.clear();
        let start = self.context.total_in();
        loop {
            let consumed = (self.context.total_in() - start) as usize;
            self.context
                .decompress_vec(&frame[consumed..], &mut self.out, FlushDecompress::Sync)
                .context("a zlib-stream frame does not inflate")?;
            let done = (self.context.total_in() - start) as usize == frame.len();
            if done && self.out.len() < self.out.capacity() {
                break;
            }
            self.out.reserve(self.out.capacity().max(1024));
        }
        ensure!(
            frame.ends_with(&[0, 0, 0xff, 0xff]),
            "a zlib-stream frame without the sync-flush suffix"
        );
        std::str::from_utf8(&self.out).context("an inflated message is not UTF-8")
    }
}
