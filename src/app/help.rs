//! The help window (F1 or the status bar's "?"): every tool and shortcut, from the one table in
//! `shortcuts`.

use super::CarveApp;
use super::shortcuts::SHORTCUTS;

impl CarveApp {
    /// The help window, while open.
    pub(super) fn help_ui(&mut self, ctx: &egui::Context) {
        let mut open = self.show_help;
        egui::Window::new("Help: tools and shortcuts").open(&mut open).resizable(false).show(ctx, |ui| {
            egui::Grid::new("shortcuts").striped(true).show(ui, |ui| {
                for shortcut in SHORTCUTS {
                    ui.strong(shortcut.keys);
                    ui.label(shortcut.what);
                    ui.end_row();
                }
            });
        });
        self.show_help = open;
    }
}
