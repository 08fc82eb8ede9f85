//! A minimal RESP2 client connection: commands as arrays of bulk strings; replies that are
//! simple strings, errors, integers, bulk strings or flat arrays of those (all this tool needs).

use anyhow::{Context, bail};
use std::net::SocketAddr;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

#[derive(Clone, Debug, PartialEq)]
pub enum Reply {
    Simple(String),
    Error(String),
    Int(i64),
    Bulk(Option<Vec<u8>>),
    Array(Vec<Reply>),
}

pub struct RespConn {
    pub reader: BufReader<OwnedReadHalf>,
    pub writer: OwnedWriteHalf,
}

impl RespConn {
    pub async fn connect(addr: SocketAddr) -> anyhow::Result<RespConn> {
        let stream = TcpStream::connect(addr)
            .await
            .with_context(|| format!("connect to Redis at {addr}"))?;
        stream.set_nodelay(true)?;
        let (read, writer) = stream.into_split();
        Ok(RespConn {
            reader: BufReader::new(read),
            writer,
        })
    }

    /// Sends one command and reads its reply; a Redis error reply is an `Err`.
    pub async fn command(&mut self, args: &[&[u8]]) -> anyhow::Result<Reply> {
        self.writer.write_all(&encode(args)).await?;
        match read_reply(&mut self.reader).await? {
            Reply::Error(e) => bail!("Redis answered an error: {e}"),
            reply => Ok(reply),
        }
    }

    /// A command whose reply is a bulk string, as text.
    pub async fn text(&mut self, args: &[&[u8]]) -> anyhow::Result<String> {
        match self.command(args).await? {
            Reply::Bulk(Some(bytes)) => Ok(String::from_utf8_lossy(&bytes).into_owned()),
            other => bail!("expected a bulk string, got {other:?}"),
        }
    }
}

/// A command as RESP: an array of bulk strings.
pub fn encode(args: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + args.iter().map(|a| a.len() + 16).sum::<usize>());
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for arg in args {
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Reads one reply. Arrays may not nest.
pub async fn read_reply(reader: &mut (impl AsyncBufRead + Unpin)) -> anyhow::Result<Reply> {
    let line = read_line(reader).await?;
    if let Some(n) = line.strip_prefix('*') {
        let n: i64 = n.parse().context("array length")?;
        let mut items = Vec::with_capacity(n.max(0) as usize);
        for _ in 0..n.max(0) {
            let line = read_line(reader).await?;
            items.push(scalar(reader, &line).await?);
        }
        return Ok(Reply::Array(items));
    }
    scalar(reader, &line).await
}

async fn scalar(reader: &mut (impl AsyncBufRead + Unpin), line: &str) -> anyhow::Result<Reply> {
    let (kind, rest) = line.split_at_checked(1).context("empty RESP line")?;
    Ok(match kind {
        "+" => Reply::Simple(rest.to_owned()),
        "-" => Reply::Error(rest.to_owned()),
        ":" => Reply::Int(rest.parse().context("integer reply")?),
        "$" => {
            let len: i64 = rest.parse().context("bulk length")?;
            if len < 0 {
                Reply::Bulk(None)
            } else {
                let mut bytes = vec![0; len as usize + 2];
                reader.read_exact(&mut bytes).await?;
                bytes.truncate(len as usize);
                Reply::Bulk(Some(bytes))
            }
        }
        _ => bail!("unexpected RESP line {line:?}"),
    })
}

async fn read_line(reader: &mut (impl AsyncBufRead + Unpin)) -> anyhow::Result<String> {
    let mut line = String::new();
    if reader.read_line(&mut line).await? == 0 {
        bail!("Redis closed the connection");
    }
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_arrays_of_bulk_strings() {
        assert_eq!(
            encode(&[b"PUBLISH", b"room", b"hi"]),
            b"*3\r\n$7\r\nPUBLISH\r\n$4\r\nroom\r\n$2\r\nhi\r\n"
        );
    }

    #[tokio::test]
    async fn replies_parse() {
        let mut input: &[u8] =
            b":3\r\n$5\r\nhello\r\n*4\r\n$1\r\na\r\n:1\r\n$1\r\nb\r\n:0\r\n-ERR no\r\n";
        assert_eq!(read_reply(&mut input).await.unwrap(), Reply::Int(3));
        assert_eq!(
            read_reply(&mut input).await.unwrap(),
            Reply::Bulk(Some(b"hello".to_vec()))
        );
        let Reply::Array(items) = read_reply(&mut input).await.unwrap() else {
            panic!()
        };
        assert_eq!(items[1], Reply::Int(1));
        assert_eq!(
            read_reply(&mut input).await.unwrap(),
            Reply::Error("ERR no".into())
        );
    }
}
