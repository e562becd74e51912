//! The bars around the window: the top bar (File menu, what is open, view switch, 3D render
//! settings) and the status bar (help, the status line, libtorch's version, and progress with a
//! cancel button for every background task).

use super::shortcuts::{self, Action};
use super::tasks::TaskProgress;
use super::{CarveApp, View};

/// What the status line says before anything happened.
const HINT: &str = "Drop a photo, or a .ply/.glb for the 3D view. 3D: drag to orbit, right-drag to pan, wheel to zoom, double-click to frame.";

impl CarveApp {
    /// Top bar: what is open.
    pub(super) fn top_bar_ui(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            ui.strong("Carve");
            self.file_menu_ui(ui);
            ui.separator();
            ui.label(format!("{}  ·  {}×{}", self.photo.name, self.photo.image.width(), self.photo.image.height()));
            ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                ui.selectable_value(&mut self.view, View::ThreeD, "3D");
                ui.selectable_value(&mut self.view, View::Split, "Split");
                ui.selectable_value(&mut self.view, View::Photo, "Photo");
                if let Some(settings) = self.viewport.settings_mut() {
                    ui.separator();
                    ui.checkbox(&mut settings.wireframe, "wireframe");
                    ui.add(egui::Slider::new(&mut settings.splat_scale, 0.1..=3.0).text("splat scale"));
                }
            });
        });
    }

    /// Status bar: errors first, then hints.
    pub(super) fn status_bar_ui(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            let help = format!("help ({})", shortcuts::key_name(Action::ToggleHelp).unwrap_or_default());
            if ui.small_button("?").on_hover_text(help).clicked() {
                self.show_help = !self.show_help;
            }
            ui.label(if self.status.is_empty() { HINT } else { &self.status });
            ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                ui.weak(format!("libtorch {}", crate::model::libtorch_version()));
                if let Some(fraction) = self.engine.fraction() {
                    if ui.small_button("cancel").clicked() {
                        self.engine.cancel();
                    }
                    ui.add(egui::ProgressBar::new(fraction).desired_width(120.0).animate(true).text("loading model"));
                }
                if let Some(p) = self.bodies.progress() {
                    if ui.small_button("cancel").clicked() {
                        self.bodies.cancel();
                    }
                    progress_bar_ui(ui, &p);
                }
                if self.workbench.busy() {
                    if ui.small_button("cancel").clicked() {
                        self.workbench.cancel_all();
                    }
                    for p in self.workbench.progress() {
                        progress_bar_ui(ui, &p);
                    }
                }
            });
        });
    }
}

/// A task's progress bar, labelled "label: message".
fn progress_bar_ui(ui: &mut egui::Ui, p: &TaskProgress) {
    ui.add(egui::ProgressBar::new(p.fraction).desired_width(160.0).text(format!("{}: {}", p.label, p.message)));
}
