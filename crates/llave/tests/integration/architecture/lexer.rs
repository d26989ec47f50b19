//! A small Rust lexer for the module-graph check: it turns a source file into identifiers and
//! punctuation with their line numbers, dropping comments (nested block comments included),
//! string, byte-string, raw-string and character literals, and numbers. A path written inside a
//! comment or a string therefore never becomes an edge of the graph.

/// One token: an identifier (keywords included) or one punctuation mark (`::` is one token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Token {
    Ident(String),
    Punct(&'static str),
    /// Any other single punctuation character.
    Other(char),
}

#[derive(Debug, Clone)]
pub struct Located {
    pub token: Token,
    pub line: usize,
}

const PUNCTS: [&str; 9] = ["::", "{", "}", "(", ")", "<", ">", ";", ","];

/// The tokens of `source`, comments and literals left out.
pub fn tokens(source: &str) -> Vec<Located> {
    let chars: Vec<char> = source.chars().collect();
    let mut out = Vec::new();
    let mut line = 1;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '\n' {
            line += 1;
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            i = skip_block_comment(&chars, i, &mut line);
        } else if c == '"' {
            i = skip_string(&chars, i + 1, &mut line);
        } else if let Some(end) = raw_or_byte_string(&chars, i, &mut line) {
            i = end;
        } else if c == '\'' {
            i = skip_char_or_lifetime(&chars, i);
        } else if c.is_ascii_digit() {
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            let mut word: String = chars[start..i].iter().collect();
            // A raw identifier: `r#type` is the identifier `type`.
            if word == "r" && chars.get(i) == Some(&'#') {
                let rest = i + 1;
                let mut end = rest;
                while end < chars.len() && (chars[end].is_alphanumeric() || chars[end] == '_') {
                    end += 1;
                }
                word = chars[rest..end].iter().collect();
                i = end;
            }
            out.push(Located { token: Token::Ident(word), line });
        } else if c == ':' && next == Some(':') {
            out.push(Located { token: Token::Punct("::"), line });
            i += 2;
        } else {
            let token =
                PUNCTS.iter().find(|p| p.len() == 1 && p.starts_with(c)).map_or(Token::Other(c), |p| Token::Punct(p));
            out.push(Located { token, line });
            i += 1;
        }
    }
    out
}

fn skip_block_comment(chars: &[char], mut i: usize, line: &mut usize) -> usize {
    let mut depth = 0;
    while i < chars.len() {
        match (chars[i], chars.get(i + 1)) {
            ('/', Some('*')) => {
                depth += 1;
                i += 2;
            }
            ('*', Some('/')) => {
                depth -= 1;
                i += 2;
                if depth == 0 {
                    return i;
                }
            }
            ('\n', _) => {
                *line += 1;
                i += 1;
            }
            _ => i += 1,
        }
    }
    i
}

/// Skips an escaped string whose opening quote is just before `i`; returns the index after
/// the closing quote.
fn skip_string(chars: &[char], mut i: usize, line: &mut usize) -> usize {
    while i < chars.len() {
        match chars[i] {
            '\\' => {
                if chars.get(i + 1) == Some(&'\n') {
                    *line += 1;
                }
                i += 2;
            }
            '"' => return i + 1,
            '\n' => {
                *line += 1;
                i += 1;
            }
            _ => i += 1,
        }
    }
    i
}

/// `b"…"`, `c"…"`, `r"…"`, `r#"…"#`, `br#"…"#`, `b'x'`: the index after the literal, or `None`
/// when no such literal starts at `i`.
fn raw_or_byte_string(chars: &[char], i: usize, line: &mut usize) -> Option<usize> {
    // The prefix must start a token: `attr"` inside an identifier is not a literal.
    if i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_') {
        return None;
    }
    let mut j = i;
    if matches!(chars.get(j), Some('b' | 'c')) {
        j += 1;
    }
    if chars.get(j) == Some(&'r') {
        j += 1;
        let mut hashes = 0;
        while chars.get(j) == Some(&'#') {
            hashes += 1;
            j += 1;
        }
        if chars.get(j) != Some(&'"') {
            return None;
        }
        j += 1;
        while j < chars.len() {
            if chars[j] == '\n' {
                *line += 1;
            }
            if chars[j] == '"' && (1..=hashes).all(|k| chars.get(j + k) == Some(&'#')) {
                return Some(j + 1 + hashes);
            }
            j += 1;
        }
        return Some(j);
    }
    if j == i {
        return None;
    }
    match chars.get(j) {
        Some('"') => Some(skip_string(chars, j + 1, line)),
        Some('\'') if chars[i] == 'b' => Some(skip_char_or_lifetime(chars, j)),
        _ => None,
    }
}

/// A character literal (`'x'`, `'\n'`, `'\u{1F600}'`) is skipped whole; a lifetime (`'a`) only
/// loses its quote, its name is read next as an identifier.
fn skip_char_or_lifetime(chars: &[char], i: usize) -> usize {
    if chars.get(i + 1) == Some(&'\\') {
        let mut j = i + 2;
        while j < chars.len() && chars[j] != '\'' {
            j += 1;
        }
        return j + 1;
    }
    if chars.get(i + 2) == Some(&'\'') {
        return i + 3;
    }
    i + 1
}
