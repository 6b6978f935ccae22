//! Turning token pieces (bytes that may split a UTF-8 character) into text that can be
//! streamed, holding back what might still become a stop sequence.

/// Accumulates token pieces; hands out text that is final.
#[derive(Debug, Default)]
pub(crate) struct TextStream {
    /// Bytes of an incomplete UTF-8 character.
    pending: Vec<u8>,
    /// All decoded text so far (before any stop sequence).
    text: String,
    /// How much of `text` has been handed out.
    emitted: usize,
    stops: Vec<String>,
    /// Set once a stop sequence is found: `text` is cut before it.
    stopped: bool,
}

impl TextStream {
    pub fn new(stops: &[String]) -> TextStream {
        TextStream { stops: stops.to_vec(), ..Default::default() }
    }

    /// Adds a piece; returns the text now final (possibly empty).
    pub fn push(&mut self, piece: &[u8]) -> String {
        if self.stopped {
            return String::new();
        }
        self.pending.extend_from_slice(piece);
        loop {
            match std::str::from_utf8(&self.pending) {
                Ok(valid) => {
                    self.text.push_str(valid);
                    self.pending.clear();
                    break;
                }
                Err(err) => {
                    let valid = err.valid_up_to();
                    // OK: the prefix up to `valid_up_to` is valid UTF-8.
                    self.text.push_str(std::str::from_utf8(&self.pending[..valid]).unwrap_or_default());
                    match err.error_len() {
                        // An incomplete character at the end: wait for the next piece.
                        None => {
                            self.pending.drain(..valid);
                            break;
                        }
                        Some(len) => {
                            self.text.push('\u{FFFD}');
                            self.pending.drain(..valid + len);
                        }
                    }
                }
            }
        }
        let search_from = self.emitted.saturating_sub(self.longest_stop());
        let found = self.stops.iter().filter_map(|stop| self.text[search_from..].find(stop.as_str())).min();
        if let Some(at) = found {
            self.text.truncate(search_from + at);
            self.stopped = true;
            return self.take(self.text.len());
        }
        // Hold back a tail that could be the start of a stop sequence.
        let mut safe = self.text.len().saturating_sub(self.longest_stop().saturating_sub(1)).max(self.emitted);
        while !self.text.is_char_boundary(safe) {
            safe -= 1;
        }
        self.take(safe)
    }

    fn longest_stop(&self) -> usize {
        self.stops.iter().map(String::len).max().unwrap_or(0)
    }

    fn take(&mut self, upto: usize) -> String {
        let upto = upto.max(self.emitted);
        let out = self.text[self.emitted..upto].to_owned();
        self.emitted = upto;
        out
    }

    /// Whether a stop sequence was found.
    pub fn stopped(&self) -> bool {
        self.stopped
    }

    /// Ends the stream: the held-back rest (an incomplete character becomes U+FFFD).
    pub fn finish(&mut self) -> String {
        if !self.pending.is_empty() && !self.stopped {
            self.text.push_str(&String::from_utf8_lossy(&self.pending));
            self.pending.clear();
        }
        self.take(self.text.len())
    }

    /// The whole text.
    pub fn text(&self) -> &str {
        &self.text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(pieces: &[&[u8]], stops: &[&str]) -> (Vec<String>, String, bool) {
        let mut stream = TextStream::new(&stops.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        let mut out: Vec<String> = pieces.iter().map(|p| stream.push(p)).collect();
        out.push(stream.finish());
        (out, stream.text().to_owned(), stream.stopped())
    }

    #[test]
    fn split_characters_are_joined_before_they_are_emitted() {
        let euro = "€".as_bytes();
        let (out, text, _) = run(&[b"a", &euro[..1], &euro[1..], b"b"], &[]);
        assert_eq!(out, ["a", "", "€", "b", ""]);
        assert_eq!(text, "a€b");
    }

    #[test]
    fn a_stop_sequence_across_pieces_ends_the_text_before_it() {
        let (out, text, stopped) = run(&[b"Hello", b" wor", b"ld! END", b"ignored"], &["END", "world!"]);
        assert!(stopped);
        assert_eq!(text, "Hello ");
        assert_eq!(out.concat(), "Hello ");
    }

    #[test]
    fn text_that_only_looks_like_a_stop_prefix_is_released_at_the_end() {
        let (out, text, stopped) = run(&[b"ab", b"c", b"E", b"N"], &["END"]);
        assert!(!stopped);
        assert_eq!(text, "abcEN");
        assert_eq!(out.concat(), "abcEN");
    }

    #[test]
    fn invalid_bytes_become_replacement_characters() {
        let (_, text, _) = run(&[b"a\xffb", b"\xe2\x82"], &[]);
        assert_eq!(text, "a\u{FFFD}b\u{FFFD}");
    }
}
