//! Which connector and key names may become part of a marker file's name.
//!
//! Marker files are named `<connector>_<key name>.<state>` inside the state
//! dir, so a name must never be able to leave that dir or hide as a dotfile.

/// Longest name accepted, well under any filesystem's limit once joined.
const MAX_LEN: usize = 100;

/// Checks a name; the error says what is wrong with it, for a message.
pub fn check(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("it is empty".into());
    }
    if name.len() > MAX_LEN {
        return Err(format!("it is longer than {MAX_LEN} bytes"));
    }
    if name.starts_with('.') || name.starts_with('-') {
        return Err("it starts with '.' or '-'".into());
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@' | '+')))
    {
        return Err(format!(
            "it contains {bad:?}; use letters, digits, '.', '_', '-', '@' or '+'"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check;

    #[test]
    fn ordinary_names_pass() {
        for name in [
            "key1",
            "GEMINI_API_KEY_3",
            "generativelanguage.googleapis.com",
            "a-b@c+d",
        ] {
            assert!(check(name).is_ok(), "{name}");
        }
    }

    #[test]
    fn names_that_could_escape_the_state_dir_are_refused() {
        for name in [
            "", "..", ".hidden", "../x", "a/b", "a\\b", "a\0b", "-rf", "k\n", "ключ",
        ] {
            assert!(check(name).is_err(), "{name:?}");
        }
        assert!(check(&"x".repeat(101)).is_err());
    }
}
