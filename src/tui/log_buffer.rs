//! The log panel's memory: a bounded ring of recent lines, a bounded pause buffer, the regex
//! filter and per-level counts of what is held.

use std::collections::VecDeque;

use regex::Regex;

use crate::config::PatternLevel;
use crate::engine::telemetry_types::ClassifiedLine;

/// Lines kept for display (the design budget: 50k lines within the 30 MB total).
pub const MAX_LOG_LINES: usize = 50_000;
/// Lines held back while the panel is paused; older ones are dropped and counted.
pub const MAX_PAUSED_LINES: usize = 10_000;

/// Per-level counts of the lines held in the ring.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HeldCounts {
    pub ok: u64,
    pub warn: u64,
    pub error: u64,
}

impl HeldCounts {
    fn adjust(&mut self, level: Option<PatternLevel>, add: bool) {
        let slot = match level {
            Some(PatternLevel::Ok) => &mut self.ok,
            Some(PatternLevel::Warn) => &mut self.warn,
            Some(PatternLevel::Error) => &mut self.error,
            None => return,
        };
        *slot = if add {
            *slot + 1
        } else {
            slot.saturating_sub(1)
        };
    }
}

/// Recent log lines with pause and filter.
#[derive(Debug, Clone)]
pub struct LogBuffer {
    lines: VecDeque<ClassifiedLine>,
    paused_lines: VecDeque<ClassifiedLine>,
    capacity: usize,
    paused: bool,
    /// Lines dropped while paused because the pause buffer was full.
    pub dropped_while_paused: u64,
    /// Lines the engine left out of bursts (still counted in its aggregates).
    pub skipped_by_engine: u64,
    filter: Option<Regex>,
    counts: HeldCounts,
}

impl Default for LogBuffer {
    fn default() -> Self {
        Self::with_capacity(MAX_LOG_LINES)
    }
}

impl LogBuffer {
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            // Reserved once: growing by doubling would overshoot to 65,536 slots and leave the
            // smaller old buffers behind in the allocator.
            lines: VecDeque::with_capacity(capacity.clamp(1, MAX_LOG_LINES)),
            paused_lines: VecDeque::new(),
            capacity: capacity.max(1),
            paused: false,
            dropped_while_paused: 0,
            skipped_by_engine: 0,
            filter: None,
            counts: HeldCounts::default(),
        }
    }

    /// Adds lines (to the pause buffer while paused); returns how many became visible.
    pub fn push(&mut self, lines: impl IntoIterator<Item = ClassifiedLine>) -> usize {
        let mut shown = 0;
        for line in lines {
            if self.paused {
                if self.paused_lines.len() >= MAX_PAUSED_LINES {
                    self.paused_lines.pop_front();
                    self.dropped_while_paused += 1;
                }
                self.paused_lines.push_back(line);
            } else {
                shown += usize::from(self.matches(&line));
                self.push_shown(line);
            }
        }
        shown
    }

    fn push_shown(&mut self, line: ClassifiedLine) {
        if self.lines.len() >= self.capacity
            && let Some(old) = self.lines.pop_front()
        {
            self.counts.adjust(old.level, false);
        }
        self.counts.adjust(line.level, true);
        self.lines.push_back(line);
    }

    pub fn is_paused(&self) -> bool {
        self.paused
    }

    /// Pauses or resumes; resuming shows the held-back lines.
    pub fn set_paused(&mut self, paused: bool) {
        self.paused = paused;
        if !paused {
            let held: Vec<_> = self.paused_lines.drain(..).collect();
            for line in held {
                self.push_shown(line);
            }
        }
    }

    pub fn paused_len(&self) -> usize {
        self.paused_lines.len()
    }

    pub fn len(&self) -> usize {
        self.lines.len()
    }

    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    pub fn counts(&self) -> HeldCounts {
        self.counts
    }

    pub fn filter(&self) -> Option<&Regex> {
        self.filter.as_ref()
    }

    pub fn set_filter(&mut self, filter: Option<Regex>) {
        self.filter = filter;
    }

    fn matches(&self, line: &ClassifiedLine) -> bool {
        self.filter
            .as_ref()
            .is_none_or(|re| re.is_match(&line.text))
    }

    /// Lines passing the filter, newest first.
    pub fn visible_newest_first(&self) -> impl Iterator<Item = &ClassifiedLine> {
        self.lines.iter().rev().filter(|line| self.matches(line))
    }

    /// Every held line, oldest first, filter ignored.
    pub fn all(&self) -> impl Iterator<Item = &ClassifiedLine> {
        self.lines.iter()
    }
}
