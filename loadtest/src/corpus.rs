//! The synthetic text of `loadtest search-data`: vocabularies of generated
//! English-like and Russian-like words drawn with a Zipf distribution (a few
//! words in most messages, most words in few), a pool of rare words, a fixed
//! two-word collocation, and messages made of them. Everything comes from one
//! seed: the same seed gives the same vocabulary and the same messages.
//!
//! Words are letters only and at least three long, so that both search
//! engines index every one (MariaDB skips words shorter than
//! `innodb_ft_min_token_size`, 2 on `deploy/local`, 3 by default).

use std::collections::HashSet;
use std::ops::Range;

use crate::rng::Rng;

/// English-like words drawn with the Zipf distribution.
const ENGLISH_WORDS: usize = 4000;
/// Russian-like words drawn with the Zipf distribution.
const RUSSIAN_WORDS: usize = 1500;
/// Rare words: one of them, uniformly, in [`RARE_PERCENT`] % of messages
/// (about four messages each in a million).
const RARE_WORDS: usize = 20_000;
const RARE_PERCENT: usize = 8;
/// The collocation is inserted in this many messages per thousand.
const PHRASE_PER_MILLE: usize = 15;
/// Zipf exponent of word ranks.
const ZIPF_S: f64 = 1.0;

const EN_ONSETS: &[&str] = &[
    "b", "c", "d", "f", "g", "h", "j", "k", "l", "m", "n", "p", "r", "s", "t", "v", "w", "y", "z",
    "bl", "br", "ch", "cl", "cr", "dr", "fl", "fr", "gl", "gr", "pl", "pr", "sh", "sl", "sm", "sn",
    "sp", "st", "sw", "th", "tr", "wh",
];
const EN_VOWELS: &[&str] = &[
    "a", "e", "i", "o", "u", "a", "e", "o", "ea", "ee", "ai", "ou", "oo", "ie", "oa",
];
const EN_CODAS: &[&str] = &[
    "", "", "", "n", "r", "s", "t", "l", "m", "d", "nd", "st", "ck", "ng", "rt", "ll", "sh", "x",
    "mp", "nt",
];
const RU_ONSETS: &[&str] = &[
    "б", "в", "г", "д", "ж", "з", "к", "л", "м", "н", "п", "р", "с", "т", "ф", "х", "ц", "ч", "ш",
    "щ", "бр", "вл", "гр", "др", "кр", "пр", "ст", "тр", "сл", "зв", "сн", "пл",
];
const RU_VOWELS: &[&str] = &[
    "а", "е", "и", "о", "у", "ы", "я", "ю", "ё", "э", "а", "о", "е", "и",
];
const RU_CODAS: &[&str] = &[
    "", "", "", "н", "р", "с", "т", "л", "м", "к", "й", "ть", "шь", "ст", "в",
];

/// What a query word or phrase is tied to, counted in every message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Probe {
    /// This vocabulary word.
    Word(u32),
    /// Any word starting with the prefix (see [`Vocab::prefixed`]).
    Prefix,
    /// These two words, one right after the other.
    Phrase(u32, u32),
}

/// The vocabulary and the distributions messages are drawn from.
pub struct Vocab {
    /// Every word as written (lower case; Russian ones may hold `ё`).
    pub words: Vec<String>,
    /// English words, most frequent first.
    pub english: Range<usize>,
    /// Russian words, most frequent first.
    pub russian: Range<usize>,
    /// Rare words.
    pub rare: Range<usize>,
    /// The collocation's two words (English).
    pub phrase: (u32, u32),
    en_cdf: Vec<f64>,
    ru_cdf: Vec<f64>,
}

/// A word as the search engines compare it: lower case, `ё` as `е`.
pub fn fold(word: &str) -> String {
    word.to_lowercase().replace('ё', "е")
}

fn zipf_cdf(n: usize) -> Vec<f64> {
    let mut acc = 0.0;
    let mut cdf: Vec<f64> = (1..=n)
        .map(|r| {
            acc += 1.0 / (r as f64).powf(ZIPF_S);
            acc
        })
        .collect();
    for c in &mut cdf {
        *c /= acc;
    }
    cdf
}

/// Index of the first `cdf` value above a uniform draw.
fn sample(cdf: &[f64], rng: &mut Rng) -> usize {
    let u = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
    cdf.partition_point(|&c| c <= u).min(cdf.len() - 1)
}

fn pick<'a>(rng: &mut Rng, from: &[&'a str]) -> &'a str {
    from[rng.below(from.len())]
}

/// A word of `syllables` syllables from these parts.
fn make_word(rng: &mut Rng, parts: [&[&str]; 3], syllables: usize) -> String {
    let mut w = String::new();
    for i in 0..syllables {
        w.push_str(pick(rng, parts[0]));
        w.push_str(pick(rng, parts[1]));
        // Codas mostly at the end of the word.
        if i + 1 == syllables || rng.below(4) == 0 {
            w.push_str(pick(rng, parts[2]));
        }
    }
    w
}

/// `n` new words (none whose folded form is in `seen`), at least three
/// letters, shortest first when `by_length` (frequent words are short).
fn make_words(
    rng: &mut Rng,
    parts: [&[&str]; 3],
    n: usize,
    syllables: Range<usize>,
    by_length: bool,
    seen: &mut HashSet<String>,
) -> Vec<String> {
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let s = syllables.start + rng.below(syllables.len());
        let w = make_word(rng, parts, s);
        if w.chars().count() >= 3 && seen.insert(fold(&w)) {
            out.push(w);
        }
    }
    if by_length {
        out.sort_by_key(|w| w.chars().count());
    }
    out
}

impl Vocab {
    /// The vocabulary of `seed`.
    pub fn new(seed: u64) -> Vocab {
        let mut rng = Rng::new(seed ^ 0x766f_6361_6275_6c61);
        let mut seen = HashSet::new();
        // Keep the query that must find nothing out of the vocabulary.
        seen.insert(NO_HIT_WORD.to_string());
        let en = [EN_ONSETS, EN_VOWELS, EN_CODAS];
        let ru = [RU_ONSETS, RU_VOWELS, RU_CODAS];
        let mut words = make_words(&mut rng, en, ENGLISH_WORDS, 1..4, true, &mut seen);
        let english = 0..words.len();
        words.extend(make_words(
            &mut rng,
            ru,
            RUSSIAN_WORDS,
            1..4,
            true,
            &mut seen,
        ));
        let russian = english.end..words.len();
        words.extend(make_words(&mut rng, en, RARE_WORDS, 3..5, false, &mut seen));
        let rare = russian.end..words.len();
        Vocab {
            words,
            phrase: (30, 45),
            english,
            russian,
            rare,
            en_cdf: zipf_cdf(ENGLISH_WORDS),
            ru_cdf: zipf_cdf(RUSSIAN_WORDS),
        }
    }

    /// The folded form of word `id`.
    pub fn folded(&self, id: u32) -> String {
        fold(&self.words[id as usize])
    }

    /// A message's words (vocabulary ids, in order) and its text, drawn from
    /// `rng`: 80 % English, 15 % Russian, 5 % both; 2 to 14 words, one in
    /// twenty 10 to 39 longer; sometimes a rare word or the collocation.
    pub fn message(&self, rng: &mut Rng) -> (Vec<u32>, String) {
        let lang = rng.below(100);
        let mut n = 2 + rng.below(7) + rng.below(7);
        if rng.below(20) == 0 {
            n += 10 + rng.below(30);
        }
        let mut ids: Vec<u32> = (0..n)
            .map(|_| {
                let russian = match lang {
                    0..80 => false,
                    80..95 => true,
                    _ => rng.below(2) == 0,
                };
                if russian {
                    (self.russian.start + sample(&self.ru_cdf, rng)) as u32
                } else {
                    (self.english.start + sample(&self.en_cdf, rng)) as u32
                }
            })
            .collect();
        if rng.below(100) < RARE_PERCENT {
            let w = self.rare.start + rng.below(self.rare.len());
            ids.insert(rng.below(ids.len() + 1), w as u32);
        }
        if rng.below(1000) < PHRASE_PER_MILLE {
            let at = rng.below(ids.len() + 1);
            ids.insert(at, self.phrase.1);
            ids.insert(at, self.phrase.0);
        }
        let text = self.render(&ids, rng);
        (ids, text)
    }

    /// The words as a sentence: the first capitalised, some commas, an end mark.
    fn render(&self, ids: &[u32], rng: &mut Rng) -> String {
        let mut text = String::new();
        for (i, &id) in ids.iter().enumerate() {
            let w = &self.words[id as usize];
            if i == 0 {
                let mut cs = w.chars();
                if let Some(c) = cs.next() {
                    text.extend(c.to_uppercase());
                    text.push_str(cs.as_str());
                }
                continue;
            }
            text.push_str(if rng.below(12) == 0 { ", " } else { " " });
            text.push_str(w);
        }
        text.push_str(match rng.below(10) {
            0..5 => "",
            5..8 => ".",
            8 => "?",
            _ => "!",
        });
        text
    }

    /// Whether words `ids` hold `probe`.
    pub fn holds(&self, ids: &[u32], probe: &Probe, prefixed: &[bool]) -> bool {
        match probe {
            Probe::Word(w) => ids.contains(w),
            Probe::Prefix => ids.iter().any(|&i| prefixed[i as usize]),
            Probe::Phrase(a, b) => ids.windows(2).any(|p| p[0] == *a && p[1] == *b),
        }
    }

    /// For each word, whether its folded form starts with `prefix`.
    pub fn prefixed(&self, prefix: &str) -> Vec<bool> {
        self.words
            .iter()
            .map(|w| fold(w).starts_with(prefix))
            .collect()
    }
}

/// A word no message holds (letters only, out of every vocabulary).
pub const NO_HIT_WORD: &str = "qwzxv";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vocabulary_is_reproducible_distinct_and_searchable() {
        let v = Vocab::new(1);
        assert_eq!(v.words, Vocab::new(1).words);
        assert_ne!(v.words, Vocab::new(2).words);
        let folded: HashSet<String> = v.words.iter().map(|w| fold(w)).collect();
        assert_eq!(folded.len(), v.words.len(), "distinct once folded");
        assert!(!folded.contains(NO_HIT_WORD));
        for w in &v.words {
            assert!(w.chars().count() >= 3, "{w}");
            assert!(w.chars().all(char::is_alphabetic), "{w}");
        }
        assert!(v.words[v.russian.start].chars().all(|c| c > '\u{400}'));
    }

    #[test]
    fn messages_follow_the_word_ids_and_zipf_makes_common_words() {
        let v = Vocab::new(3);
        let mut rng = Rng::new(5);
        let mut first = 0;
        let mut tenth = 0;
        for _ in 0..2000 {
            let (ids, text) = v.message(&mut rng);
            let words: Vec<String> = chat_core::search::words(&text).map(|(_, _, w)| w).collect();
            let expect: Vec<String> = ids.iter().map(|&i| v.folded(i)).collect();
            assert_eq!(words, expect, "{text}");
            first += usize::from(ids.contains(&0));
            tenth += usize::from(ids.contains(&(v.english.start as u32 + 100)));
        }
        assert!(first > 500 && tenth < first / 10, "{first} {tenth}");
    }
}
