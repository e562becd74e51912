//! What a subcommand prints when it is done: its summary as JSON on stdout (`--json`) or a human
//! text; a stdout that a closed pipe (`carve models --json | head -1`) does not turn into a panic;
//! and the one-line error report of `main`.

use std::io::Write as _;

use anyhow::Context as _;
use serde::Serialize;

/// The human-readable report of a subcommand, for when `--json` is off.
pub enum Text {
    /// A status line for a person; stdout stays free for data.
    Stderr(String),
    /// A listing that is the command's answer (`carve models`, `carve body lods`).
    Stdout(String),
}

/// Prints `summary` as pretty JSON on stdout when `json` is set, else the text `text` makes of it.
///
/// The summary goes through `serde_json::Value` first, as the `json!` literals it replaces did:
/// object keys come out sorted (serde_json is built without `preserve_order`) and `f32` values
/// widened to `f64` — byte for byte the JSON scripts already read.
pub fn finish<S: Serialize>(json: bool, summary: &S, text: impl FnOnce(&S) -> Text) -> anyhow::Result<()> {
    if json {
        let value = serde_json::to_value(summary).context("cannot encode the summary as JSON")?;
        return stdout(&format!("{}\n", serde_json::to_string_pretty(&value)?));
    }
    match text(summary) {
        Text::Stderr(line) => eprintln!("{line}"),
        Text::Stdout(listing) => stdout(&listing)?,
    }
    Ok(())
}

/// Writes `text` to stdout. A reader that has gone away (`EPIPE`) is not an error: nobody is left
/// to read the rest, so the command ends quietly and successfully.
pub fn stdout(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        result => result.context("cannot write to stdout"),
    }
}

/// `error` and its causes on one line, `outer: cause: cause`. A cause whose text the line already
/// holds (an error that prints its source in its own message) is left out, so nothing is said twice.
pub fn error_line(error: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line.replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("cannot read {path}: {source}")]
    struct Read {
        path: String,
        source: std::io::Error,
    }

    #[test]
    fn error_line_says_each_cause_once() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        let e = anyhow::Error::new(Read { path: "a.json".into(), source: io }).context("cannot load the scene");
        assert_eq!(error_line(&e), "cannot load the scene: cannot read a.json: no such file");
        let plain = anyhow::anyhow!("first\nsecond").context("outer");
        assert_eq!(error_line(&plain), "outer: first second");
    }
}
