//! Lenient decoding of JSON string bodies.
//!
//! V8 serialises every UTF-16 code unit of a string, so a string that was cut
//! in the middle of a surrogate pair (common in truncated names and in binary
//! data held in strings) reaches the snapshot as a lone `\uD83D`. Strict JSON
//! parsers such as `serde_json` reject such a document; here each lone
//! surrogate, and any invalid UTF-8, becomes U+FFFD and the rest of the string
//! is kept. Escapes that are not JSON at all (`\x`, `\u12`) are still errors.

/// Decodes a string body (between the quotes, escapes still escaped) into `out`.
pub(crate) fn decode(raw: &[u8], out: &mut String) -> Result<(), String> {
    out.clear();
    if !raw.contains(&b'\\') {
        out.push_str(&String::from_utf8_lossy(raw));
        return Ok(());
    }
    let mut bytes: Vec<u8> = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let byte = raw[i];
        if byte != b'\\' {
            bytes.push(byte);
            i += 1;
            continue;
        }
        let Some(&escape) = raw.get(i + 1) else {
            return Err("a backslash ends the string".to_string());
        };
        i += 2;
        let simple = match escape {
            b'"' => Some(b'"'),
            b'\\' => Some(b'\\'),
            b'/' => Some(b'/'),
            b'b' => Some(0x08),
            b'f' => Some(0x0c),
            b'n' => Some(b'\n'),
            b'r' => Some(b'\r'),
            b't' => Some(b'\t'),
            b'u' => None,
            other => return Err(format!("unknown escape '\\{}'", other as char)),
        };
        if let Some(b) = simple {
            bytes.push(b);
            continue;
        }
        let unit = hex4(raw, i)?;
        i += 4;
        let ch = if (0xD800..0xDC00).contains(&unit) {
            // A high surrogate: only a following low surrogate completes it.
            match low_surrogate_at(raw, i) {
                Some(low) => {
                    i += 6;
                    let code =
                        0x10000 + ((u32::from(unit) - 0xD800) << 10) + (u32::from(low) - 0xDC00);
                    char::from_u32(code).unwrap_or(char::REPLACEMENT_CHARACTER)
                }
                None => char::REPLACEMENT_CHARACTER,
            }
        } else {
            char::from_u32(u32::from(unit)).unwrap_or(char::REPLACEMENT_CHARACTER)
        };
        let mut utf8 = [0u8; 4];
        bytes.extend_from_slice(ch.encode_utf8(&mut utf8).as_bytes());
    }
    out.push_str(&String::from_utf8_lossy(&bytes));
    Ok(())
}

fn hex4(raw: &[u8], at: usize) -> Result<u16, String> {
    let digits = raw
        .get(at..at + 4)
        .ok_or_else(|| "a \\u escape has fewer than four hex digits".to_string())?;
    let mut value: u16 = 0;
    for &d in digits {
        let nibble = (d as char)
            .to_digit(16)
            .ok_or_else(|| format!("'{}' is not a hex digit in a \\u escape", d as char))?;
        value = (value << 4) | nibble as u16;
    }
    Ok(value)
}

fn low_surrogate_at(raw: &[u8], at: usize) -> Option<u16> {
    if raw.get(at) != Some(&b'\\') || raw.get(at + 1) != Some(&b'u') {
        return None;
    }
    let unit = hex4(raw, at + 2).ok()?;
    (0xDC00..0xE000).contains(&unit).then_some(unit)
}

#[cfg(test)]
mod tests {
    use super::decode;

    fn decoded(raw: &str) -> Result<String, String> {
        let mut out = String::new();
        decode(raw.as_bytes(), &mut out).map(|()| out)
    }

    #[test]
    fn decodes_escapes_and_surrogate_pairs() {
        assert_eq!(decoded(r#"a\"b\\c\n\u00e9"#).unwrap(), "a\"b\\c\n\u{e9}");
        assert_eq!(decoded(r"\ud83d\ude00!").unwrap(), "\u{1F600}!");
    }

    #[test]
    fn lone_surrogates_become_replacement_characters() {
        assert_eq!(decoded(r"x\ud83dy").unwrap(), "x\u{FFFD}y");
        assert_eq!(decoded(r"\ude00").unwrap(), "\u{FFFD}");
        assert_eq!(decoded(r"\ud83d\u0041").unwrap(), "\u{FFFD}A");
    }

    #[test]
    fn rejects_escapes_that_are_not_json() {
        assert!(decoded(r"\x41").is_err());
        assert!(decoded(r"\u12").is_err());
        assert!(decoded(r"\u12zz").is_err());
    }
}
