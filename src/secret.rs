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

#[cfg(test)]
mod tests {
    use super::*;

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
