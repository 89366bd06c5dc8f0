//! An incremental parser of server-sent events (the `text/event-stream` format), fed with
//! whatever chunks the connection delivers.
//!
//! Lines end with LF, CRLF or CR; a blank line ends an event; `data:` lines of one event are
//! joined with `\n`; lines starting with `:` are comments (keep-alives); `id:` and `retry:`
//! are accepted and ignored (the daemon's stream starts over with a snapshot on reconnect).

/// One complete event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` name (`message` when absent, as the specification says).
    pub event: String,
    /// The data lines, joined.
    pub data: String,
}

/// The parser's state between chunks.
#[derive(Debug, Default)]
pub struct SseParser {
    /// The current, unfinished line.
    line: Vec<u8>,
    /// The previous chunk ended with CR: an LF starting the next one belongs to it.
    after_cr: bool,
    event: Option<String>,
    data: String,
    has_data: bool,
}

/// Lines longer than this are cut (a malformed stream must not grow memory without bound).
const MAX_LINE: usize = 64 << 20;

impl SseParser {
    /// A parser at the start of a stream.
    pub fn new() -> SseParser {
        SseParser::default()
    }

    /// Parses `chunk`, appending each event it completes to `out`.
    pub fn feed(&mut self, chunk: &[u8], out: &mut Vec<SseEvent>) {
        let mut rest = chunk;
        if self.after_cr {
            self.after_cr = false;
            if let Some(stripped) = rest.strip_prefix(b"\n") {
                rest = stripped;
            }
        }
        while let Some(end) = rest.iter().position(|&b| b == b'\n' || b == b'\r') {
            let terminator = rest[end];
            if self.line.is_empty() {
                self.line_done(&rest[..end], out);
            } else {
                self.push_line_bytes(&rest[..end]);
                let line = std::mem::take(&mut self.line);
                self.line_done(&line, out);
            }
            rest = &rest[end + 1..];
            if terminator == b'\r' {
                match rest.first() {
                    Some(b'\n') => rest = &rest[1..],
                    Some(_) => {}
                    None => self.after_cr = true,
                }
            }
        }
        self.push_line_bytes(rest);
    }

    fn push_line_bytes(&mut self, bytes: &[u8]) {
        let room = MAX_LINE.saturating_sub(self.line.len());
        self.line.extend_from_slice(&bytes[..bytes.len().min(room)]);
    }

    fn line_done(&mut self, line: &[u8], out: &mut Vec<SseEvent>) {
        if line.is_empty() {
            if self.has_data {
                out.push(SseEvent {
                    event: self.event.take().unwrap_or_else(|| "message".to_owned()),
                    data: std::mem::take(&mut self.data),
                });
            }
            self.event = None;
            self.data.clear();
            self.has_data = false;
            return;
        }
        if line[0] == b':' {
            return; // a comment: keep-alive
        }
        let (field, value) = match line.iter().position(|&b| b == b':') {
            Some(i) => {
                let value = &line[i + 1..];
                (&line[..i], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &b""[..]),
        };
        let value = String::from_utf8_lossy(value);
        match field {
            b"event" => self.event = Some(value.into_owned()),
            b"data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(&value);
                self.has_data = true;
            }
            _ => {} // id, retry, unknown fields
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_chunks(chunks: &[&[u8]]) -> Vec<SseEvent> {
        let mut parser = SseParser::new();
        let mut out = Vec::new();
        for chunk in chunks {
            parser.feed(chunk, &mut out);
        }
        out
    }

    fn ev(event: &str, data: &str) -> SseEvent {
        SseEvent {
            event: event.to_owned(),
            data: data.to_owned(),
        }
    }

    #[test]
    fn parses_events_and_skips_comments() {
        let got = parse_chunks(&[
            b"event: snapshot\ndata: {\"a\":1}\n\n: keep-alive\n\nevent: stats\ndata: {}\n\n",
        ]);
        assert_eq!(got, vec![ev("snapshot", "{\"a\":1}"), ev("stats", "{}")]);
    }

    #[test]
    fn events_split_anywhere_across_chunks() {
        let text = b"event: delivery\ndata: {\"id\":\"dlv_1\"}\n\nevent: webhook\ndata: {}\n\n";
        let whole = parse_chunks(&[text]);
        for cut in 0..text.len() {
            let (a, b) = text.split_at(cut);
            assert_eq!(parse_chunks(&[a, b]), whole, "cut at {cut}");
        }
        let bytes: Vec<&[u8]> = text.chunks(1).collect();
        assert_eq!(parse_chunks(&bytes), whole);
    }

    #[test]
    fn crlf_and_cr_line_endings() {
        let want = vec![ev("x", "1"), ev("y", "2")];
        assert_eq!(
            parse_chunks(&[b"event: x\r\ndata: 1\r\n\r\nevent: y\rdata: 2\r\r"]),
            want
        );
        // CR at the end of one chunk, LF at the start of the next: one line end.
        assert_eq!(
            parse_chunks(&[
                b"event: x\r",
                b"\ndata: 1\r",
                b"\n\r",
                b"\nevent: y\ndata: 2\n\n"
            ]),
            want
        );
    }

    #[test]
    fn multi_line_data_default_name_and_no_space() {
        let got = parse_chunks(&[b"data:a\ndata: b\nid: 7\nretry: 10\n\ndata\n\n"]);
        assert_eq!(got, vec![ev("message", "a\nb"), ev("message", "")]);
    }

    #[test]
    fn an_event_without_data_is_not_dispatched() {
        assert!(parse_chunks(&[b"event: lonely\n\n"]).is_empty());
        // And its name does not leak into the next event.
        assert_eq!(
            parse_chunks(&[b"event: lonely\n\ndata: 1\n\n"]),
            vec![ev("message", "1")]
        );
    }
}
