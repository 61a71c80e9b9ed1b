//! Account files of `[accounts] dir` that were skipped: a WARNING naming each file, so a
//! customer whose file has a typo is not silently missing from the fleet.

use serde::Serialize;

use super::Status;
use crate::config::InvalidAccountFile;

/// One skipped account file and its problems (`file:line: key: problem`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InvalidFileReport {
    pub status: Status,
    pub file: String,
    pub problems: Vec<String>,
}

pub fn invalid_file_reports(files: &[InvalidAccountFile]) -> Vec<InvalidFileReport> {
    files
        .iter()
        .map(|file| InvalidFileReport {
            status: Status::Warning,
            file: file.path.display().to_string(),
            problems: file.issues.iter().map(ToString::to_string).collect(),
        })
        .collect()
}

/// "account file: WARNING - accounts.d/x.toml skipped: accounts.d/x.toml:2: …".
pub fn invalid_file_line(report: &InvalidFileReport) -> String {
    format!(
        "account file: {} - {} skipped: {}",
        report.status.label(),
        report.file,
        report.problems.join("; ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ConfigIssue;

    #[test]
    fn a_skipped_file_is_a_warning_naming_the_file_and_its_problems() {
        let issue = ConfigIssue {
            file: Some("/etc/tokentop/accounts.d/x.toml".into()),
            line: Some(2),
            key: "account.app-id".into(),
            value: Some("\"12x\"".into()),
            problem: "not digits".into(),
            allowed: String::new(),
        };
        let files = [InvalidAccountFile {
            path: "/etc/tokentop/accounts.d/x.toml".into(),
            issues: vec![issue],
        }];
        let reports = invalid_file_reports(&files);
        assert_eq!(
            invalid_file_line(&reports[0]),
            "account file: WARNING - /etc/tokentop/accounts.d/x.toml skipped: /etc/tokentop/accounts.d/x.toml:2: account.app-id = \"12x\": not digits"
        );
    }
}
