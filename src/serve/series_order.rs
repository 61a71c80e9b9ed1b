//! The exposition's series in account order within each metric family, so gzip finds the
//! repeats: the client library keeps a family's series in a hash map, whose order made
//! 10,000 accounts' `/metrics` 2.4 MB gzipped instead of 1.4 MB.
//!
//! Only sample lines move, and only within the run between two comment lines (one family);
//! the sort is stable and keyed on the `account` label alone, so the lines of one series
//! (a histogram's buckets, `_sum` and `_count`) keep their order and stay together.

/// The exposition's lines (each with its newline) in account order within each family.
pub fn ordered_lines(text: &str) -> Vec<&str> {
    let mut lines: Vec<&str> = text.split_inclusive('\n').collect();
    // A last line cut short of its newline stays last: moved, it would join the next line.
    let sortable = match lines.last() {
        Some(last) if !last.ends_with('\n') => lines.len() - 1,
        _ => lines.len(),
    };
    let mut start = 0;
    while start < sortable {
        if is_comment(lines[start]) {
            start += 1;
            continue;
        }
        let end = lines[start..sortable]
            .iter()
            .position(|line| is_comment(line))
            .map_or(sortable, |offset| start + offset);
        lines[start..end].sort_by_key(|line| account_of(line));
        start = end;
    }
    lines
}

/// The exposition in account order within each family.
pub fn ordered(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in ordered_lines(text) {
        out.push_str(line);
    }
    out
}

fn is_comment(line: &str) -> bool {
    line.starts_with('#')
}

/// The raw (still escaped) value of the line's `account` label; empty without one.
fn account_of(line: &str) -> &str {
    let Some(labels) = line.find('{').map(|open| &line[open..]) else {
        return "";
    };
    let Some(at) = labels
        .find("{account=\"")
        .or_else(|| labels.find(",account=\""))
    else {
        return "";
    };
    let value = &labels[at + ",account=\"".len()..];
    let mut escaped = false;
    for (index, byte) in value.bytes().enumerate() {
        match byte {
            b'\\' if !escaped => escaped = true,
            b'"' if !escaped => return &value[..index],
            _ => escaped = false,
        }
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_are_ordered_by_account_within_each_family_only() {
        let text = "# HELP a A.\n# TYPE a gauge\n\
                    a{account=\"zeta\",state=\"x\"} 0\n\
                    a{account=\"alpha\",state=\"y\"} 1\n\
                    a{account=\"zeta\",state=\"w\"} 1\n\
                    # HELP b B.\n# TYPE b gauge\n\
                    b{account=\"beta\"} 2\n\
                    b{account=\"alpha\"} 3\n\
                    # EOF\n";
        assert_eq!(
            ordered(text),
            "# HELP a A.\n# TYPE a gauge\n\
             a{account=\"alpha\",state=\"y\"} 1\n\
             a{account=\"zeta\",state=\"x\"} 0\n\
             a{account=\"zeta\",state=\"w\"} 1\n\
             # HELP b B.\n# TYPE b gauge\n\
             b{account=\"alpha\"} 3\n\
             b{account=\"beta\"} 2\n\
             # EOF\n"
        );
    }

    #[test]
    fn a_histograms_lines_keep_their_order_and_stay_together() {
        let text = "# TYPE h histogram\n\
                    h_sum{account=\"b\"} 1\nh_count{account=\"b\"} 1\n\
                    h_bucket{le=\"0.5\",account=\"b\"} 0\nh_bucket{le=\"+Inf\",account=\"b\"} 1\n\
                    h_sum{account=\"a\"} 2\nh_count{account=\"a\"} 1\n\
                    h_bucket{le=\"0.5\",account=\"a\"} 1\nh_bucket{le=\"+Inf\",account=\"a\"} 1\n";
        let lines = ordered_lines(text);
        assert_eq!(
            lines[1..].concat(),
            "h_sum{account=\"a\"} 2\nh_count{account=\"a\"} 1\n\
             h_bucket{le=\"0.5\",account=\"a\"} 1\nh_bucket{le=\"+Inf\",account=\"a\"} 1\n\
             h_sum{account=\"b\"} 1\nh_count{account=\"b\"} 1\n\
             h_bucket{le=\"0.5\",account=\"b\"} 0\nh_bucket{le=\"+Inf\",account=\"b\"} 1\n"
        );
    }

    #[test]
    fn the_account_label_is_read_whole_and_only_as_a_label_name() {
        assert_eq!(account_of("m{account=\"a\\\"b\",x=\"1\"} 1\n"), "a\\\"b");
        assert_eq!(
            account_of("m{my_account=\"no\",account=\"yes\"} 1\n"),
            "yes"
        );
        assert_eq!(account_of("m{host=\"account=\\\"x\"} 1\n"), "");
        assert_eq!(account_of("m 1\n"), "");
        assert_eq!(account_of("m{account=\"cut"), "cut");
    }

    #[test]
    fn lines_without_a_final_newline_and_empty_text_are_kept() {
        assert_eq!(ordered(""), "");
        let cut = "m{account=\"c\"} 1\nm{account=\"b\"} 2\nm{account=\"a\"} 3";
        assert_eq!(
            ordered(cut),
            "m{account=\"b\"} 2\nm{account=\"c\"} 1\nm{account=\"a\"} 3"
        );
    }
}
