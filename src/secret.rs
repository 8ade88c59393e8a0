//! The API key value type: it can be sent, never shown.

use std::fmt;

/// An API key's value. `Debug` and `Display` print only a mask (`…wxyz`);
/// the value itself is reachable only through [`ApiKey::expose`], which the
/// network module calls to build a header marked sensitive.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ApiKey(String);

impl ApiKey {
    /// Wraps a key value.
    pub fn new(value: impl Into<String>) -> ApiKey {
        ApiKey(value.into())
    }

    /// The value, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The last four characters behind an ellipsis, and only for keys long
    /// enough that four characters give nothing useful away.
    pub fn masked(&self) -> String {
        let chars: Vec<char> = self.0.chars().collect();
        if chars.len() >= 16 {
            let tail: String = chars[chars.len() - 4..].iter().collect();
            format!("…{tail}")
        } else {
            "…".to_string()
        }
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiKey({})", self.masked())
    }
}

impl fmt::Display for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

/// A reader that masks every occurrence of a key's value in what passes
/// through it, also when the value is split across reads. The mask has the
/// value's length (all but its last 4 characters as `*`), so a length the
/// upstream gave stays true.
pub struct MaskingReader<R> {
    inner: R,
    key: Vec<u8>,
    mask: Vec<u8>,
    /// Read but not yet handed on: may end with the start of the key.
    held: Vec<u8>,
    /// Ready to hand on.
    ready: std::collections::VecDeque<u8>,
    done: bool,
}

impl<R: std::io::Read> MaskingReader<R> {
    /// Masks `key` in what `inner` gives.
    pub fn new(inner: R, key: &ApiKey) -> MaskingReader<R> {
        let key = key.expose().as_bytes().to_vec();
        let keep = 4.min(key.len());
        let mut mask = vec![b'*'; key.len() - keep];
        mask.extend_from_slice(&key[key.len() - keep..]);
        MaskingReader {
            inner,
            key,
            mask,
            held: Vec::new(),
            ready: Default::default(),
            done: false,
        }
    }

    /// Masks what is held and moves all of it that can't be the start of a
    /// key split across reads to `ready`.
    fn settle(&mut self) {
        let n = self.key.len();
        let mut i = 0;
        while i + n <= self.held.len() {
            if self.held[i..i + n] == self.key[..] {
                self.held[i..i + n].copy_from_slice(&self.mask);
                i += n;
            } else {
                i += 1;
            }
        }
        // The last n-1 bytes may begin a key that the next read completes.
        let keep = if self.done {
            0
        } else {
            (n - 1).min(self.held.len())
        };
        let cut = self.held.len() - keep;
        self.ready.extend(self.held.drain(..cut));
    }
}

impl<R: std::io::Read> std::io::Read for MaskingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.ready.is_empty() && !self.done {
            let mut chunk = vec![0u8; buf.len().max(self.key.len()).min(64 * 1024)];
            let n = self.inner.read(&mut chunk)?;
            if n == 0 {
                self.done = true;
            }
            self.held.extend_from_slice(&chunk[..n]);
            self.settle();
        }
        let n = buf.len().min(self.ready.len());
        for (slot, byte) in buf.iter_mut().zip(self.ready.drain(..n)) {
            *slot = byte;
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader giving its bytes in the chunk sizes listed, round and round.
    struct Chunked(Vec<u8>, Vec<usize>, usize);

    impl std::io::Read for Chunked {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let size = self.1[self.2 % self.1.len()]
                .min(buf.len())
                .min(self.0.len());
            self.2 += 1;
            let rest = self.0.split_off(size);
            buf[..size].copy_from_slice(&self.0);
            self.0 = rest;
            Ok(size)
        }
    }

    #[test]
    fn a_key_split_across_reads_is_masked_and_the_length_kept() {
        use std::io::Read;
        let key = ApiKey::new("AIzaSyKEYSPLITACROSSCHUNKS1234");
        let text = format!(
            "data: {{\"echo\": \"{}\"}}\n\ndata: {} {}\n",
            key.expose(),
            key.expose(),
            key.expose()
        );
        for sizes in [vec![1], vec![3, 7], vec![5, 1, 13], vec![64 * 1024]] {
            let mut out = Vec::new();
            MaskingReader::new(Chunked(text.clone().into_bytes(), sizes.clone(), 0), &key)
                .read_to_end(&mut out)
                .unwrap();
            let out = String::from_utf8(out).unwrap();
            assert_eq!(out.len(), text.len(), "{sizes:?}");
            assert!(!out.contains(key.expose()), "{sizes:?}: {out}");
            assert_eq!(
                out.matches("**********************1234").count(),
                3,
                "{out}"
            );
        }
    }

    #[test]
    fn debug_and_display_never_show_the_value() {
        let key = ApiKey::new("AIzaSyD-secret-value-wxyz");
        assert_eq!(format!("{key:?}"), "ApiKey(…wxyz)");
        assert_eq!(key.to_string(), "…wxyz");
        assert!(!format!("{key:?}{key}").contains("secret"));
    }

    #[test]
    fn short_keys_are_masked_whole() {
        let key = ApiKey::new("abc12345");
        assert_eq!(key.masked(), "…");
        assert_eq!(key.expose(), "abc12345");
    }
}
