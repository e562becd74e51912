//! Messages over the window, and the one path every outcome takes to the user: [`CarveApp::report`]
//! puts a success in the status line and a failure in an error toast, logging both with `tracing`.
//! Notices fade after 6 s; errors stay until dismissed.

use std::fmt::Display;
use std::time::{Duration, Instant};

use super::CarveApp;

/// How long a notice stays.
const NOTICE_LIFETIME: Duration = Duration::from_secs(6);

/// One message shown at the bottom right.
#[derive(Clone, Debug)]
pub struct Toast {
    pub text: String,
    /// Errors are red and stay until dismissed.
    pub is_error: bool,
    pub born: Instant,
}

/// The messages on screen, oldest first.
#[derive(Default)]
pub struct Toasts {
    list: Vec<Toast>,
}

impl Toasts {
    pub fn as_slice(&self) -> &[Toast] {
        &self.list
    }

    /// A notice (fades).
    pub fn notice(&mut self, text: String) {
        self.list.push(Toast { text, is_error: false, born: Instant::now() });
    }

    /// An error (stays until dismissed). The same error already on screen is not added twice.
    pub fn error(&mut self, text: String) {
        if !self.list.iter().any(|t| t.is_error && t.text == text) {
            self.list.push(Toast { text, is_error: true, born: Instant::now() });
        }
    }

    /// Draws the messages at the bottom right, each with a dismiss button.
    pub fn toasts_ui(&mut self, ctx: &egui::Context) {
        self.list.retain(|t| t.is_error || t.born.elapsed() < NOTICE_LIFETIME);
        if self.list.is_empty() {
            return;
        }
        let mut dismiss = None;
        egui::Area::new(egui::Id::unique("toasts")).anchor(egui::Align2::RIGHT_BOTTOM, egui::vec2(-12.0, -36.0)).show(
            ctx,
            |ui| {
                for (i, toast) in self.list.iter().enumerate() {
                    let fill = if toast.is_error {
                        egui::Color32::from_rgb(110, 30, 30)
                    } else {
                        egui::Color32::from_rgb(30, 60, 90)
                    };
                    egui::Frame::popup(ui.style()).fill(fill).show(ui, |ui| {
                        ui.set_max_width(420.0);
                        ui.horizontal(|ui| {
                            ui.colored_label(egui::Color32::WHITE, &toast.text);
                            if ui.small_button("dismiss").clicked() {
                                dismiss = Some(i);
                            }
                        });
                    });
                }
            },
        );
        if let Some(i) = dismiss {
            self.list.remove(i);
        }
        ctx.request_repaint_after(Duration::from_millis(500));
    }
}

impl CarveApp {
    /// The outcome of a user action: on success `done` describes it in the status line (logged at
    /// info level) and the value is returned; on failure the error becomes an error toast (logged
    /// as a warning) and `None` is returned.
    pub(super) fn report<T, E: Display>(&mut self, result: Result<T, E>, done: impl FnOnce(&T) -> String) -> Option<T> {
        let value = self.check(result)?;
        let status = done(&value);
        self.set_status(status);
        Some(value)
    }

    /// Like [`CarveApp::report`] for actions whose success says nothing (the status line stays).
    pub(super) fn check<T, E: Display>(&mut self, result: Result<T, E>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(e) => {
                self.show_error(e);
                None
            }
        }
    }

    /// An error toast, logged as a warning.
    pub(super) fn show_error(&mut self, error: impl Display) {
        let text = error.to_string();
        tracing::warn!("{text}");
        self.toasts.error(text);
    }

    /// A notice toast, logged at info level.
    pub(super) fn show_notice(&mut self, text: String) {
        tracing::info!("{text}");
        self.toasts.notice(text);
    }

    /// The status line, logged at info level.
    pub(super) fn set_status(&mut self, text: String) {
        tracing::info!("{text}");
        self.status = text;
    }
}
