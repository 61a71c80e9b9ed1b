//! `{ credential = "NAME" }`: a secret systemd hands the service as a file,
//! `$CREDENTIALS_DIRECTORY/NAME` (`LoadCredential=` / `LoadCredentialEncrypted=`), so that no
//! secret sits in the unit file or the environment.

use std::path::Path;

use secrecy::SecretString;

use super::EnvSnapshot;
use super::capped_read::{CappedReadError, MAX_SECRET_FILE_BYTES, read_capped};
use super::issues::Invalid;
use super::secrets::SECRET_SHOWN;

const ALLOWED: &str = "the name of a credential the unit passes with LoadCredential=NAME:PATH \
                       or LoadCredentialEncrypted=NAME:PATH";

/// The trimmed content of `$CREDENTIALS_DIRECTORY/name`, read like `{ file = ... }` (a
/// capped regular file). Messages name the credential (unless it looks like a secret itself)
/// and the directory, never the content.
pub(super) fn read(env: &EnvSnapshot, name: &str) -> Result<SecretString, Invalid> {
    if !is_plain_file_name(name) {
        let problem = "credential must be a plain file name (no /, not . or ..)";
        return Err(Invalid::new(problem, ALLOWED));
    }
    let Some(dir) = env.get("CREDENTIALS_DIRECTORY") else {
        let problem = "CREDENTIALS_DIRECTORY is not set: not running under systemd with \
                       LoadCredential=/LoadCredentialEncrypted=; use { env } or { file } otherwise";
        return Err(Invalid::new(problem, ALLOWED));
    };
    let shown = shown_name(name);
    let content = read_capped(&Path::new(dir).join(name), MAX_SECRET_FILE_BYTES)
        .map_err(|err| Invalid::new(read_problem(&shown, dir, &err), ALLOWED))?;
    let trimmed = content.trim();
    if trimmed.is_empty() {
        let problem = format!("credential {shown} in {dir} is empty");
        return Err(Invalid::new(problem, ALLOWED));
    }
    Ok(SecretString::from(trimmed.to_string()))
}

fn read_problem(shown: &str, dir: &str, err: &CappedReadError) -> String {
    match err {
        CappedReadError::NotFound => format!(
            "no credential {shown} in $CREDENTIALS_DIRECTORY ({dir}): the unit must pass it \
             with LoadCredential= or LoadCredentialEncrypted="
        ),
        other => format!("cannot read credential {shown} in {dir}: {other}"),
    }
}

/// A name systemd could pass: one path component, not `.` or `..`.
fn is_plain_file_name(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\0'])
}

/// The name for messages, or a placeholder when it looks like a secret pasted in its place
/// (an `EAA…` token, a long run of letters and digits such as a 32-hex app secret).
pub(super) fn shown_name(name: &str) -> String {
    let name_like = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '@' | ':' | '/'));
    let has_separator = name.contains(['_', '-', '.']);
    let short = name.len() < 20 || (has_separator && name.len() <= 64);
    if name_like && short && !name.starts_with("EAA") {
        format!("{name:?}")
    } else {
        SECRET_SHOWN.to_string()
    }
}
