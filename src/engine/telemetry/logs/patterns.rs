//! The pattern set that classifies log lines, with a literal prefilter for whole buffers.

use regex::bytes::{Regex, RegexSet};

use super::prefilter::{MAX_MASKED_PATTERNS, Prefilter, required_literals};
use crate::config::{PatternDef, PatternLevel, PatternRole, PatternSettings};

/// The built-in patterns: the five log lines of DESIGN.md verbatim, then generic send
/// failure and success. All are case-sensitive POSIX-ERE compatible, so `grep -E` runs them
/// unchanged, and each holds a literal the prefilter can look for.
pub fn default_patterns() -> Vec<PatternDef> {
    let def = |name: &str, regex: &str, level, role| PatternDef {
        name: name.to_string(),
        regex: regex.to_string(),
        level,
        role,
    };
    use PatternLevel::{Error, Ok, Warn};
    vec![
        def(
            "token-refreshed",
            r"WhatsApp access token refreshed successfully",
            Ok,
            None,
        ),
        def(
            "token-expiring",
            r"WhatsApp token is expired or expiring soon, refreshing\.\.\.",
            Warn,
            None,
        ),
        def(
            "token-expired",
            r"WhatsApp token expired, attempting refresh",
            Warn,
            None,
        ),
        def(
            "refresh-failed",
            r"Failed to refresh WhatsApp token: ",
            Error,
            None,
        ),
        def(
            "not-configured",
            r"Refresh token or App ID not configured",
            Error,
            None,
        ),
        def(
            "message-failed",
            r"[Ff]ailed to send (WhatsApp )?message",
            Error,
            Some(PatternRole::Failed),
        ),
        def(
            "message-sent",
            r"[Mm]essage sent",
            Ok,
            Some(PatternRole::Delivered),
        ),
    ]
}

/// A pattern whose regex does not compile.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("pattern \"{name}\": invalid regex {regex:?}: {reason}")]
pub struct PatternError {
    pub name: String,
    pub regex: String,
    pub reason: String,
}

/// The pattern a line matched (the first one in priority order).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Match<'a> {
    /// Position in [`PatternSet::patterns`]; lower wins.
    pub index: usize,
    pub name: &'a str,
    pub level: PatternLevel,
    pub role: Option<PatternRole>,
}

/// Compiled patterns in priority order.
#[derive(Debug, Clone)]
pub struct PatternSet {
    patterns: Vec<PatternDef>,
    set: RegexSet,
    /// The same patterns one by one, to try only those a line's literals point to.
    regexes: Vec<Regex>,
    /// Finds the lines that may match; `None` when there is nothing to look for (no
    /// patterns, or only patterns that can never match).
    prefilter: Option<Prefilter>,
    /// Some pattern has no literal to look for: every line must go through the set.
    scan_every_line: bool,
}

impl PatternSet {
    /// Defaults (unless `use_defaults` is false) followed by the user's patterns; a user
    /// pattern with the name of a default replaces that default in place.
    pub fn new(settings: &PatternSettings) -> Result<Self, PatternError> {
        let mut patterns = if settings.use_defaults {
            default_patterns()
        } else {
            Vec::new()
        };
        for user in &settings.patterns {
            match patterns.iter_mut().find(|p| p.name == user.name) {
                Some(existing) => *existing = user.clone(),
                None => patterns.push(user.clone()),
            }
        }
        Self::from_patterns(patterns)
    }

    /// Exactly these patterns, in this priority order.
    pub fn from_patterns(patterns: Vec<PatternDef>) -> Result<Self, PatternError> {
        let mut literals = Vec::new();
        let mut regexes = Vec::new();
        let mut scan_every_line = false;
        for p in &patterns {
            let error = |reason: String| PatternError {
                name: p.name.clone(),
                regex: p.regex.clone(),
                reason,
            };
            regexes.push(Regex::new(&p.regex).map_err(|e| error(e.to_string()))?);
            let hir = regex_syntax::parse(&p.regex).map_err(|e| error(e.to_string()))?;
            match required_literals(&hir) {
                Some(found) => literals.push(found),
                None => {
                    scan_every_line = true;
                    literals.push(Vec::new());
                }
            }
        }
        let set = RegexSet::new(patterns.iter().map(|p| &p.regex)).map_err(|e| PatternError {
            name: "(all patterns together)".to_string(),
            regex: String::new(),
            reason: e.to_string(),
        })?;
        let prefilter = Prefilter::new(&literals);
        scan_every_line |= prefilter.is_none() && literals.iter().any(|l| !l.is_empty());
        Ok(Self {
            patterns,
            set,
            regexes,
            prefilter,
            scan_every_line,
        })
    }

    pub fn patterns(&self) -> &[PatternDef] {
        &self.patterns
    }

    /// The highest-priority pattern matching `line`, if any.
    pub fn classify(&self, line: &str) -> Option<Match<'_>> {
        self.classify_bytes(line.as_bytes())
    }

    /// Like [`PatternSet::classify`] on raw bytes (invalid UTF-8 is fine).
    pub fn classify_bytes(&self, line: &[u8]) -> Option<Match<'_>> {
        let index = self.set.matches(line).iter().next()?;
        self.match_of(index)
    }

    /// The match for the pattern at `index`, if there is one.
    pub(crate) fn match_of(&self, index: usize) -> Option<Match<'_>> {
        let p = self.patterns.get(index)?;
        Some(Match {
            index,
            name: &p.name,
            level: p.level,
            role: p.role,
        })
    }

    /// Classifies every line of `buf` (split on `\n`; a `\r` before it is not part of the
    /// line; the last line may lack its `\n`) and calls `on_match(line_start, line, match)`
    /// for each matching line, in order. Same results as `classify` on each of
    /// `str::lines()`, but only lines holding a pattern's literal are looked at.
    pub fn classify_buffer<'s>(
        &'s self,
        buf: &[u8],
        on_match: impl FnMut(usize, &[u8], &Match<'s>),
    ) {
        self.classify_lines(buf, usize::MAX, on_match);
    }

    /// [`PatternSet::classify_buffer`] with each line cut to its first `max_line_bytes`
    /// bytes (after the `\r` is removed), as following cuts them.
    pub(crate) fn classify_lines<'s>(
        &'s self,
        buf: &[u8],
        max_line_bytes: usize,
        mut on_match: impl FnMut(usize, &[u8], &Match<'s>),
    ) {
        let line_at = |start: usize, end: usize| {
            let mut line = &buf[start..end];
            if end < buf.len() {
                line = line.strip_suffix(b"\r").unwrap_or(line);
            }
            &line[..line.len().min(max_line_bytes)]
        };
        let prefilter = match &self.prefilter {
            Some(prefilter) if !self.scan_every_line => prefilter,
            _ if self.scan_every_line => {
                let mut start = 0;
                while start < buf.len() {
                    let end = memchr::memchr(b'\n', &buf[start..]).map_or(buf.len(), |i| start + i);
                    let line = line_at(start, end);
                    if let Some(m) = self.classify_bytes(line) {
                        on_match(start, line, &m);
                    }
                    start = end + 1;
                }
                return;
            }
            _ => return,
        };
        let mut from = 0;
        while from < buf.len() {
            let Some((hit, mask)) = prefilter.find(&buf[from..]) else {
                return;
            };
            let at = from + hit;
            let start = memchr::memrchr(b'\n', &buf[..at]).map_or(0, |i| i + 1);
            let end = memchr::memchr(b'\n', &buf[at..]).map_or(buf.len(), |i| at + i);
            let line = line_at(start, end);
            if let Some(m) = self.classify_hit(prefilter, line, at - start, mask) {
                on_match(start, line, &m);
            }
            from = end + 1;
        }
    }

    /// Classifies a line whose leftmost literal starts at `first` (possibly past a cut
    /// `line`'s end) and means the patterns in `mask`: only patterns some literal of the
    /// line points to are tried, in priority order.
    fn classify_hit(
        &self,
        prefilter: &Prefilter,
        line: &[u8],
        first: usize,
        mask: u128,
    ) -> Option<Match<'_>> {
        if self.patterns.len() > MAX_MASKED_PATTERNS {
            return self.classify_bytes(line);
        }
        let mut candidates = prefilter.candidates_in(line, first, mask);
        while candidates != 0 {
            let index = candidates.trailing_zeros() as usize;
            if self.regexes.get(index).is_some_and(|r| r.is_match(line)) {
                return self.match_of(index);
            }
            candidates &= candidates - 1;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(regex: &str) -> PatternSet {
        PatternSet::from_patterns(vec![PatternDef {
            name: "p".into(),
            regex: regex.into(),
            level: PatternLevel::Ok,
            role: None,
        }])
        .unwrap()
    }

    #[test]
    fn defaults_use_the_prefilter_only() {
        let set = PatternSet::new(&PatternSettings::default()).unwrap();
        assert!(set.prefilter.is_some());
        assert!(!set.scan_every_line);
    }

    #[test]
    fn case_insensitive_and_suffix_literals_still_prefilter() {
        for regex in ["(?i)payment declined", r"\w+ declined", r"[0-9]+ing done"] {
            let set = one(regex);
            assert!(!set.scan_every_line, "{regex}");
        }
    }

    #[test]
    fn pattern_without_literal_scans_every_line() {
        assert!(one(r"^\d+ \d+$").scan_every_line);
        assert!(one(r"a?").scan_every_line);
    }
}
