//! Progress on the terminal for a library step run in the background: a bar when stderr is a
//! terminal (indicatif), otherwise a line whenever the message changes. The library only reports
//! progress ([`carve::core::task::Progress`]); drawing it is the front end's business.

use std::time::Duration;

use carve::core::task::{Progress, Task, TaskPanicked};

/// Runs `step` in the background and draws its progress on stderr: a bar when stderr is a
/// terminal, otherwise a line whenever the message changes. Returns the step's result.
pub fn run_with_terminal_progress<T: Send + 'static>(
    label: &str,
    step: impl FnOnce(&Progress) -> T + Send + 'static,
) -> Result<T, TaskPanicked> {
    use std::io::IsTerminal;
    let task = Task::spawn(label, step);
    let is_terminal = std::io::stderr().is_terminal();
    let bar = is_terminal.then(|| {
        let bar = indicatif::ProgressBar::new(1000);
        if let Ok(style) = indicatif::ProgressStyle::with_template("{prefix:.bold} [{bar:30}] {percent:>3}% {msg}") {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_prefix(label.to_owned());
        bar
    });
    let mut last_message = String::new();
    while !task.is_finished() {
        let message = task.progress().message();
        if let Some(bar) = &bar {
            bar.set_position((task.progress().fraction() * 1000.0) as u64);
            bar.set_message(message);
        } else if message != last_message && !message.is_empty() {
            eprintln!("{label}: {:>3.0}% {message}", task.progress().fraction() * 100.0);
            last_message = message;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    task.wait()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_runner_returns_result() {
        let value = run_with_terminal_progress("test", |p| {
            p.set(1.0, "done");
            7
        });
        assert_eq!(value.unwrap(), 7);
    }
}
