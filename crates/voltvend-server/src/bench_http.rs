//! The load generator's HTTP/1.1 client (RFC 9112): one keep-alive connection with one request in flight.
//!
//! It writes a request that the caller has already serialised, then reads the status line, the header
//! fields and a body framed by `Content-Length` (§6.3 rule 5), which is how this server frames every
//! response it makes. Anything else — chunked framing, a body over [`BODY_LEN_MAX`], a head over
//! [`HEAD_LEN_MAX`] — is an error, so that the bench never measures a response it did not read whole. A
//! response with `Connection: close` is read whole and says so: the caller connects again. It is small on
//! purpose: the client shares the machine with the server it measures.

use std::io;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The most bytes of status line and header fields read before giving up on a response.
pub const HEAD_LEN_MAX: usize = 64 * 1024;
/// The largest response body read.
pub const BODY_LEN_MAX: usize = 1 << 20;
/// What one read asks the socket for at least.
const READ_CHUNK: usize = 16 * 1024;

/// One keep-alive connection.
#[derive(Debug)]
pub struct Connection {
    stream: TcpStream,
    /// Bytes read and not yet consumed; a response's bytes are consumed when the next request is sent.
    buf: Vec<u8>,
    /// How many bytes at the front of `buf` belong to the previous response.
    consumed: usize,
}

/// A response, its body borrowed from the connection's buffer.
#[derive(Debug)]
pub struct Response<'a> {
    pub status: u16,
    pub body: &'a [u8],
    /// The server closes the connection after this response.
    pub close: bool,
}

fn invalid(message: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.to_string())
}

impl Connection {
    pub async fn connect(addr: std::net::SocketAddr) -> io::Result<Self> {
        let stream = TcpStream::connect(addr).await?;
        // Requests are written in one piece: no reason to wait for more before sending.
        stream.set_nodelay(true)?;
        Ok(Self { stream, buf: Vec::with_capacity(READ_CHUNK), consumed: 0 })
    }

    /// Sends `request` (a whole HTTP/1.1 request) and reads its response.
    pub async fn exchange(&mut self, request: &[u8]) -> io::Result<Response<'_>> {
        self.buf.drain(..self.consumed.min(self.buf.len()));
        self.consumed = 0;
        if !self.buf.is_empty() {
            return Err(invalid("the server sent bytes nobody asked for"));
        }
        self.stream.write_all(request).await?;
        let head_len = loop {
            if let Some(at) = find(&self.buf, b"\r\n\r\n") {
                break at + 4;
            }
            if self.buf.len() > HEAD_LEN_MAX {
                return Err(invalid("the response head is too long"));
            }
            self.fill().await?;
        };
        let head = self.buf.get(..head_len).ok_or_else(|| invalid("short head"))?;
        let Head { status, body_len, close } = parse_head(head)?;
        let end = head_len + body_len;
        while self.buf.len() < end {
            self.fill().await?;
        }
        self.consumed = end;
        let body = self.buf.get(head_len..end).ok_or_else(|| invalid("short body"))?;
        Ok(Response { status, body, close })
    }

    async fn fill(&mut self) -> io::Result<()> {
        self.buf.reserve(READ_CHUNK);
        let n = self.stream.read_buf(&mut self.buf).await?;
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the server closed the connection"));
        }
        Ok(())
    }
}

#[derive(Debug, PartialEq, Eq)]
struct Head {
    status: u16,
    body_len: usize,
    close: bool,
}

/// The status code, the body's length and whether the connection closes, from a head ending in CRLF CRLF.
fn parse_head(head: &[u8]) -> io::Result<Head> {
    let text = std::str::from_utf8(head).map_err(|_| invalid("the response head is not UTF-8"))?;
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    if version != "HTTP/1.1" {
        return Err(invalid("not an HTTP/1.1 response"));
    }
    let status: u16 = parts.next().and_then(|s| s.parse().ok()).ok_or_else(|| invalid("no status code"))?;
    let mut body_len = None;
    let mut close = false;
    for line in lines.filter(|l| !l.is_empty()) {
        let (name, value) = line.split_once(':').ok_or_else(|| invalid("a header field without a colon"))?;
        let (name, value) = (name.trim(), value.trim());
        if name.eq_ignore_ascii_case("content-length") {
            let n: usize = value.parse().map_err(|_| invalid("a Content-Length that is not a number"))?;
            if n > BODY_LEN_MAX {
                return Err(invalid("the response body is too large"));
            }
            body_len = Some(n);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(invalid("a chunked response (this client reads Content-Length bodies only)"));
        } else if name.eq_ignore_ascii_case("connection") {
            close |= value.split(',').any(|v| v.trim().eq_ignore_ascii_case("close"));
        }
    }
    // 1xx, 204 and 304 have no body (RFC 9112 §6.3 rule 1); every other answer of this server has a length.
    let body_len = match (status, body_len) {
        (100..=199 | 204 | 304, _) => 0,
        (_, Some(n)) => n,
        (_, None) => return Err(invalid("a response without Content-Length")),
    };
    Ok(Head { status, body_len, close })
}

/// Where `needle` first occurs in `haystack`.
pub fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(head: &str, expect: Result<(u16, usize, bool), &str>) {
        let got = parse_head(head.as_bytes()).map(|h| (h.status, h.body_len, h.close)).map_err(|e| e.to_string());
        assert_eq!(got, expect.map_err(str::to_string), "{head:?}");
    }

    #[test]
    fn heads() {
        check("HTTP/1.1 201 Created\r\ncontent-length: 12\r\n\r\n", Ok((201, 12, false)));
        check("HTTP/1.1 200 OK\r\nContent-Type: a\r\nContent-Length:0\r\n\r\n", Ok((200, 0, false)));
        check("HTTP/1.1 204 No Content\r\n\r\n", Ok((204, 0, false)));
        check("HTTP/1.0 200 OK\r\ncontent-length: 1\r\n\r\n", Err("not an HTTP/1.1 response"));
        check("HTTP/1.1 200 OK\r\n\r\n", Err("a response without Content-Length"));
        check(
            "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n",
            Err("a chunked response (this client reads Content-Length bodies only)"),
        );
        check("HTTP/1.1 200 OK\r\ncontent-length: 2000000\r\n\r\n", Err("the response body is too large"));
        check("HTTP/1.1 400 Bad\r\nConnection: keep-alive, Close\r\ncontent-length: 1\r\n\r\n", Ok((400, 1, true)));
    }

    #[tokio::test]
    async fn keep_alive_exchanges_against_a_canned_server() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = [0_u8; 1024];
            for answer in [
                "HTTP/1.1 201 Created\r\ncontent-length: 5\r\n\r\nhello",
                "HTTP/1.1 503 X\r\ncontent-length: 2\r\n\r\nno",
            ] {
                let mut got = Vec::new();
                while find(&got, b"\r\n\r\n").is_none() {
                    let n = s.read(&mut buf).await.unwrap();
                    got.extend_from_slice(&buf[..n]);
                }
                // The answer in two writes, to exercise reading a response in pieces.
                let (a, b) = answer.split_at(20);
                s.write_all(a.as_bytes()).await.unwrap();
                s.flush().await.unwrap();
                s.write_all(b.as_bytes()).await.unwrap();
            }
        });
        let mut c = Connection::connect(addr).await.unwrap();
        let r = c.exchange(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n").await.unwrap();
        assert_eq!((r.status, r.body, r.close), (201, &b"hello"[..], false));
        let r = c.exchange(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n").await.unwrap();
        assert_eq!((r.status, r.body), (503, &b"no"[..]));
        server.await.unwrap();
    }
}
