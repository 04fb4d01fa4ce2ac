//! Message search queries: what a user typed, turned into terms that every
//! full-text engine the store runs on can take without a syntax error, and
//! the ranges of a message's text that matched (for highlighting).
//!
//! Syntax, kept simple: words (`hello мир`), phrases (`"good morning"`), a
//! prefix (`deploy*`); every term must match (AND). Anything else a user may
//! type — operators, brackets, quotes left open, punctuation, emoji, control
//! characters — is a word separator, never an error. Words are compared
//! case-folded with Latin diacritics removed (`Café` finds `cafe`), as
//! SQLite's `unicode61 remove_diacritics 2` tokenizer and MariaDB's
//! case-insensitive collation compare them; `ё` is indexed as `е` (Russian
//! writes either), `й` stays a letter of its own.

use crate::error::{Code, Rejection};

/// Most terms a query keeps (more are refused).
pub const MAX_TERMS: usize = 16;
/// Longest query accepted, in bytes.
pub const MAX_QUERY_BYTES: usize = 1000;
/// Longest word kept, in characters (longer words are cut).
const MAX_WORD_CHARS: usize = 64;

/// One thing every hit must contain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Term {
    /// A whole word.
    Word(String),
    /// Any word starting with this.
    Prefix(String),
    /// These words, one after the other.
    Phrase(Vec<String>),
}

/// A parsed query: its terms, each folded (lower case, no diacritics).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Query {
    /// Every one must match.
    pub terms: Vec<Term>,
}

/// Parses what a user typed; `invalid_query` when it holds no word or is
/// too long.
pub fn parse(input: &str) -> Result<Query, Rejection> {
    if input.len() > MAX_QUERY_BYTES {
        return Err(Rejection::new(
            Code::InvalidQuery,
            format!("a search is at most {MAX_QUERY_BYTES} bytes"),
        ));
    }
    let mut terms = Vec::new();
    // Split on quotes: odd pieces are phrases (an unclosed one runs to the end).
    for (i, piece) in input.split('"').enumerate() {
        if i % 2 == 1 {
            let words: Vec<String> = words(piece).map(|(_, _, w)| w).collect();
            match words.len() {
                0 => {}
                1 => terms.push(Term::Word(words.into_iter().next().unwrap_or_default())),
                _ => terms.push(Term::Phrase(words)),
            }
            continue;
        }
        for (_, end, w) in words(piece) {
            let starred = piece[end..].starts_with('*');
            terms.push(if starred {
                Term::Prefix(w)
            } else {
                Term::Word(w)
            });
        }
    }
    terms.dedup();
    if terms.is_empty() {
        return Err(Rejection::new(
            Code::InvalidQuery,
            "nothing to search for: give at least one word",
        ));
    }
    if terms.len() > MAX_TERMS {
        return Err(Rejection::new(
            Code::InvalidQuery,
            format!("a search has at most {MAX_TERMS} words"),
        ));
    }
    Ok(Query { terms })
}

impl Query {
    /// The query for SQLite FTS5's `MATCH`: every word quoted, so no input
    /// is FTS5 syntax.
    pub fn fts5(&self) -> String {
        let quote = |w: &str| format!("\"{}\"", w.replace('"', "\"\""));
        self.terms
            .iter()
            .map(|t| match t {
                Term::Word(w) => quote(w),
                Term::Prefix(w) => format!("{}*", quote(w)),
                Term::Phrase(ws) => quote(&ws.join(" ")),
            })
            .collect::<Vec<_>>()
            .join(" AND ")
    }

    /// The query for MariaDB's `MATCH … AGAINST (… IN BOOLEAN MODE)`: every
    /// term required (`+`), words being only letters and digits.
    pub fn boolean_mode(&self) -> String {
        self.terms
            .iter()
            .map(|t| match t {
                Term::Word(w) => format!("+{w}"),
                Term::Prefix(w) => format!("+{w}*"),
                Term::Phrase(ws) => format!("+\"{}\"", ws.join(" ")),
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Whether `text` holds every term (the engines' answer, checked again
    /// where an engine is looser, e.g. MariaDB's minimum word length).
    pub fn matches(&self, text: &str) -> bool {
        let ws: Vec<String> = words(text).map(|(_, _, w)| w).collect();
        self.terms.iter().all(|t| match t {
            Term::Word(w) => ws.iter().any(|x| x == w),
            Term::Prefix(p) => ws.iter().any(|x| x.starts_with(p.as_str())),
            Term::Phrase(p) => ws.windows(p.len()).any(|win| win == p.as_slice()),
        })
    }

    /// The ranges of `text` that matched, in UTF-16 code units (what a
    /// browser's string offsets count), sorted and not overlapping.
    pub fn highlights(&self, text: &str) -> Vec<(usize, usize)> {
        let ws: Vec<(usize, usize, String)> = words(text).collect();
        let mut hits: Vec<(usize, usize)> = Vec::new();
        for t in &self.terms {
            match t {
                Term::Word(w) => hits.extend(
                    ws.iter()
                        .filter(|(_, _, x)| x == w)
                        .map(|(s, e, _)| (*s, *e)),
                ),
                Term::Prefix(p) => hits.extend(
                    ws.iter()
                        .filter(|(_, _, x)| x.starts_with(p.as_str()))
                        .map(|(s, e, _)| (*s, *e)),
                ),
                Term::Phrase(p) => {
                    for (i, win) in ws.windows(p.len()).enumerate() {
                        if win.iter().map(|(_, _, x)| x).eq(p.iter()) {
                            hits.push((ws[i].0, ws[i + p.len() - 1].1));
                        }
                    }
                }
            }
        }
        hits.sort_unstable();
        let mut merged: Vec<(usize, usize)> = Vec::new();
        for (s, e) in hits {
            match merged.last_mut() {
                Some(last) if s <= last.1 => last.1 = last.1.max(e),
                _ => merged.push((s, e)),
            }
        }
        // Byte offsets to UTF-16 offsets.
        let utf16 = |b: usize| text[..b].encode_utf16().count();
        merged
            .into_iter()
            .map(|(s, e)| (utf16(s), utf16(e)))
            .collect()
    }
}

/// The words of `text`: runs of letters and digits, each with its byte
/// range and its folded form (cut to 64 characters).
pub fn words(text: &str) -> impl Iterator<Item = (usize, usize, String)> + '_ {
    let mut chars = text.char_indices().peekable();
    std::iter::from_fn(move || {
        loop {
            let (start, c) = chars.next()?;
            if !c.is_alphanumeric() {
                continue;
            }
            let mut end = start + c.len_utf8();
            let mut word: String = fold(c).collect();
            while let Some(&(i, c)) = chars.peek() {
                if !c.is_alphanumeric() {
                    break;
                }
                end = i + c.len_utf8();
                word.extend(fold(c));
                chars.next();
            }
            let word: String = word.chars().take(MAX_WORD_CHARS).collect();
            return Some((start, end, word));
        }
    })
}

/// A character lower-cased, without its diacritic (the Latin letters with
/// one, as the engines fold them; Cyrillic ё as е, й kept).
fn fold(c: char) -> impl Iterator<Item = char> {
    let base = match c {
        'À'..='Å' | 'à'..='å' | 'Ā'..='ą' => 'a',
        'Ç' | 'ç' | 'Ć'..='č' => 'c',
        'Ď'..='đ' => 'd',
        'È'..='Ë' | 'è'..='ë' | 'Ē'..='ě' => 'e',
        'Ĝ'..='ģ' => 'g',
        'Ĥ'..='ħ' => 'h',
        'Ì'..='Ï' | 'ì'..='ï' | 'Ĩ'..='ı' => 'i',
        'Ĵ' | 'ĵ' => 'j',
        'Ķ' | 'ķ' => 'k',
        'Ĺ'..='ł' => 'l',
        'Ñ' | 'ñ' | 'Ń'..='ň' => 'n',
        'Ò'..='Ö' | 'ò'..='ö' | 'Ō'..='ő' => 'o',
        'Ŕ'..='ř' => 'r',
        'Ś'..='š' => 's',
        'Ţ'..='ŧ' => 't',
        'Ù'..='Ü' | 'ù'..='ü' | 'Ũ'..='ų' => 'u',
        'Ŵ' | 'ŵ' => 'w',
        'Ý' | 'ý' | 'ÿ' | 'Ŷ' | 'ŷ' | 'Ÿ' => 'y',
        'Ź'..='ž' => 'z',
        // Russian writes е for ё as often as not (the store indexes ё as е).
        'Ё' | 'ё' => 'е',
        other => other,
    };
    base.to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> Query {
        parse(s).unwrap()
    }

    #[test]
    fn words_phrases_and_prefixes() {
        assert_eq!(
            q(r#"Hello "Good  Morning" deplo* мир"#).terms,
            vec![
                Term::Word("hello".into()),
                Term::Phrase(vec!["good".into(), "morning".into()]),
                Term::Prefix("deplo".into()),
                Term::Word("мир".into()),
            ]
        );
        assert_eq!(
            q("Café Ёлка").terms,
            vec![Term::Word("cafe".into()), Term::Word("елка".into())]
        );
    }

    #[test]
    fn any_input_is_words_or_a_clear_refusal() {
        for hostile in [
            "\"",
            "\"\"\"",
            "a\" OR \"b",
            "NEAR(x y)",
            "col:val",
            "^start",
            "-x +y ~z",
            "(a",
            "a)",
            "\0nul\0",
            "😀 smile",
            "a*b*",
            "*",
            "x AND OR NOT y",
            "'; DROP TABLE",
        ] {
            match parse(hostile) {
                Ok(query) => {
                    let f = query.fts5();
                    assert!(
                        f.split(" AND ").all(|t| t.starts_with('"')),
                        "{hostile}: {f}"
                    );
                    let b = query.boolean_mode();
                    assert!(b.split(' ').all(|t| t.starts_with('+')), "{hostile}: {b}");
                }
                Err(r) => assert_eq!(r.code, Code::InvalidQuery, "{hostile}"),
            }
        }
        assert_eq!(parse("  ?! ").unwrap_err().code, Code::InvalidQuery);
        assert_eq!(
            parse(&"x".repeat(10_000)).unwrap_err().code,
            Code::InvalidQuery
        );
        let many: String = (0..20).map(|i| format!("w{i} ")).collect();
        assert_eq!(parse(&many).unwrap_err().code, Code::InvalidQuery);
    }

    #[test]
    fn engine_queries() {
        let query = q(r#"hi "a b" pre*"#);
        assert_eq!(query.fts5(), r#""hi" AND "a b" AND "pre"*"#);
        assert_eq!(query.boolean_mode(), r#"+hi +"a b" +pre*"#);
    }

    #[test]
    fn matches_and_highlights() {
        let query = q(r#"deploy* "green build""#);
        let text = "Deploying now: the GREEN build passed, deploy done";
        assert!(query.matches(text));
        assert!(!query.matches("deploying now, build green"));
        let hl = query.highlights(text);
        let got: Vec<&str> = hl.iter().map(|&(s, e)| &text[s..e]).collect();
        assert_eq!(got, vec!["Deploying", "GREEN build", "deploy"]);
        // UTF-16 offsets: an emoji counts two.
        let query = q("мир");
        let text = "😀 Мир!";
        assert_eq!(query.highlights(text), vec![(3, 6)]);
    }
}
