//! The required-literal prefilter: which pieces of the patterns to look for, and what a hit means.
//!
//! Every match of a pattern contains one of its required literals, so a line holding none of
//! them cannot match. The buffer is searched for all of them at once (Teddy, through
//! aho-corasick), and that search is fast only while candidates are rare: Teddy tests the first
//! four bytes of each literal, and a phrase starting with a word the log is full of ("message"
//! in every JSON line) would stop it at every line. Any piece of a required literal is required
//! too, so each literal is cut to start at its rarest four bytes, preferably across a word
//! boundary ("ge sent" for "message sent"), which also merges case variants.

use aho_corasick::{AhoCorasick, MatchKind};
use regex_syntax::hir::Hir;
use regex_syntax::hir::literal::{ExtractKind, Extractor, Seq};

/// Literals one pattern may contribute to the prefilter before it is scanned line by line.
const MAX_LITERALS_PER_PATTERN: usize = 64;
/// Bytes Teddy compares before verifying a candidate.
const FINGERPRINT_BYTES: usize = 4;
/// Patterns a hit can name in its bitmask; with more, a hit line goes through the whole set.
pub(crate) const MAX_MASKED_PATTERNS: usize = 128;

/// The compiled search and, per literal, the patterns a hit on it may belong to.
#[derive(Debug, Clone)]
pub(crate) struct Prefilter {
    searcher: AhoCorasick,
    /// Bit `p` set: pattern `p` may match where this literal starts. Includes the patterns of
    /// literals this one is a prefix of (or that are a prefix of it): the leftmost-first search
    /// names only one literal per position.
    candidates: Vec<u128>,
}

impl Prefilter {
    /// A prefilter for `literals[p]` of each pattern `p`; `None` when there is nothing to look
    /// for or the search cannot be built (then every line is scanned, slower but correct).
    pub(crate) fn new(literals: &[Vec<Vec<u8>>]) -> Option<Self> {
        let mut windows: Vec<(Vec<u8>, u128)> = Vec::new();
        for (pattern, found) in literals.iter().enumerate() {
            let bit = if pattern < MAX_MASKED_PATTERNS {
                1u128 << pattern
            } else {
                0
            };
            for literal in found {
                let window = rare_window(literal);
                match windows.iter_mut().find(|(w, _)| w == window) {
                    Some((_, mask)) => *mask |= bit,
                    None => windows.push((window.to_vec(), bit)),
                }
            }
        }
        if windows.is_empty() {
            return None;
        }
        let searcher = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostFirst)
            .build(windows.iter().map(|(w, _)| w))
            .ok()?;
        let candidates = windows
            .iter()
            .map(|(w, _)| {
                windows
                    .iter()
                    .filter(|(other, _)| other.starts_with(w) || w.starts_with(other))
                    .fold(0, |mask, (_, bits)| mask | bits)
            })
            .collect();
        Some(Self {
            searcher,
            candidates,
        })
    }

    /// The leftmost literal in `haystack`: where it starts, and the patterns it may mean.
    pub(crate) fn find(&self, haystack: &[u8]) -> Option<(usize, u128)> {
        let hit = self.searcher.find(haystack)?;
        let mask = self.candidates.get(hit.pattern().as_usize())?;
        Some((hit.start(), *mask))
    }

    /// The patterns that may match `line`, whose leftmost literal starts at `first` and means
    /// `mask`: every further literal start in the line adds its own.
    pub(crate) fn candidates_in(&self, line: &[u8], first: usize, mut mask: u128) -> u128 {
        let mut from = first + 1;
        while from < line.len() {
            let Some((at, more)) = self.find(&line[from..]) else {
                break;
            };
            mask |= more;
            from += at + 1;
        }
        mask
    }
}

/// Literals of which every match contains at least one, or `None` when there are none
/// usable (an empty literal, too many of them, or an unbounded set). Of the prefix and the
/// suffix literals, the set with the longer shortest literal (then the smaller set) wins.
pub(crate) fn required_literals(hir: &Hir) -> Option<Vec<Vec<u8>>> {
    let mut extractor = Extractor::new();
    let prefixes = usable(extractor.kind(ExtractKind::Prefix).extract(hir), false);
    let suffixes = usable(extractor.kind(ExtractKind::Suffix).extract(hir), true);
    let quality = |lits: &Vec<Vec<u8>>| {
        let shortest = lits.iter().map(Vec::len).min().unwrap_or(0);
        (shortest.min(8), std::cmp::Reverse(lits.len()))
    };
    [prefixes, suffixes]
        .into_iter()
        .flatten()
        .max_by_key(|lits| quality(lits))
}

/// The literals of `seq`, shortened (which keeps them required) until few enough remain:
/// case-insensitive patterns expand into many case variants.
fn usable(mut seq: Seq, is_suffix: bool) -> Option<Vec<Vec<u8>>> {
    loop {
        seq.sort();
        seq.dedup();
        let count = seq.len()?;
        let longest = seq.max_literal_len()?;
        if count <= MAX_LITERALS_PER_PATTERN || longest <= 1 {
            break;
        }
        if is_suffix {
            seq.keep_last_bytes(longest - 1);
        } else {
            seq.keep_first_bytes(longest - 1);
        }
    }
    let literals = seq.literals()?;
    if literals.len() > MAX_LITERALS_PER_PATTERN || literals.iter().any(|l| l.is_empty()) {
        return None;
    }
    Some(literals.iter().map(|l| l.as_bytes().to_vec()).collect())
}

/// The tail of `literal` from its rarest [`FINGERPRINT_BYTES`] on, the whole of a short one.
fn rare_window(literal: &[u8]) -> &[u8] {
    let starts = literal.len().saturating_sub(FINGERPRINT_BYTES) + 1;
    let best = (0..starts)
        .min_by_key(|&start| {
            let end = (start + FINGERPRINT_BYTES).min(literal.len());
            commonness(&literal[start..end])
        })
        .unwrap_or(0);
    &literal[best..]
}

/// How often bytes like these come together in log text; lower is rarer. Words of a
/// pattern are often words of the log itself, while two words side by side are not, so
/// a fingerprint spanning a word boundary counts as rarer.
fn commonness(fingerprint: &[u8]) -> u32 {
    let sum: u32 = fingerprint
        .iter()
        .map(|&b| u32::from(byte_commonness(b)))
        .sum();
    let word = |b: &u8| b.is_ascii_alphanumeric();
    let spans_words = fingerprint.len() == FINGERPRINT_BYTES
        && word(&fingerprint[0])
        && word(&fingerprint[FINGERPRINT_BYTES - 1])
        && fingerprint[1..FINGERPRINT_BYTES - 1]
            .iter()
            .any(|b| !word(b));
    if spans_words {
        sum.saturating_sub(300)
    } else {
        sum
    }
}

/// A rough frequency rank of a byte in application logs (English words, JSON, key=value).
fn byte_commonness(byte: u8) -> u8 {
    match byte {
        b' ' => 255,
        b'e' => 250,
        b't' => 245,
        b'a' => 240,
        b'o' => 235,
        b'i' | b'"' => 232,
        b'n' => 230,
        b's' => 228,
        b'r' => 225,
        b'0'..=b'9' | b':' => 220,
        b'c' | b'l' | b'h' | b'd' | b',' => 200,
        b'u' | b'm' | b'.' => 190,
        b'p' | b'_' => 180,
        b'f' | b'g' | b'/' | b'-' | b'=' => 170,
        b'w' | b'y' => 160,
        b'b' | b'{' | b'}' => 150,
        b'v' => 130,
        b'k' => 120,
        b'A'..=b'Z' => 100,
        b'x' => 80,
        b'j' | b'q' | b'z' => 55,
        _ => 60,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(literal: &str) -> &str {
        std::str::from_utf8(rare_window(literal.as_bytes())).unwrap()
    }

    #[test]
    fn windows_start_across_a_word_boundary_and_merge_case_variants() {
        assert_eq!(window("message sent"), "ge sent");
        assert_eq!(window("Message sent"), "ge sent");
        assert_eq!(window("Failed to send"), window("failed to send"));
        assert_eq!(window("ok"), "ok");
    }

    #[test]
    fn a_hit_on_a_prefix_may_mean_the_longer_literal() {
        // Literals this short are looked for whole.
        let literals = vec![vec![b"ab".to_vec()], vec![b"abc".to_vec()]];
        let prefilter = Prefilter::new(&literals).unwrap();
        let (at, mask) = prefilter.find(b"xx abc").unwrap();
        assert_eq!((at, mask), (3, 0b11));
    }

    #[test]
    fn later_literals_in_the_line_add_their_patterns() {
        let literals = vec![vec![b"alpha".to_vec()], vec![b"omega".to_vec()]];
        let prefilter = Prefilter::new(&literals).unwrap();
        let line = b"omega then alpha";
        let (at, mask) = prefilter.find(line).unwrap();
        assert_eq!(mask, 0b10);
        assert_eq!(prefilter.candidates_in(line, at, mask), 0b11);
    }
}
