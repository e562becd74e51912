//! The File menu: open a photo, 3D file, body or project; save the project; export every mask as
//! COCO JSON; recover the autosaved session; recent files.

use std::path::Path;

use super::CarveApp;
use crate::io::mask_export::{ExportImage, ExportMask};

/// Every extension the Open dialog offers.
const OPEN_EXTENSIONS: [&str; 12] =
    ["jpg", "jpeg", "png", "webp", "tif", "tiff", "bmp", "ply", "glb", "gltf", "npz", "carve"];

impl CarveApp {
    /// The File menu.
    pub(super) fn file_menu_ui(&mut self, ui: &mut egui::Ui) {
        ui.menu_button("File", |ui| {
            if ui.button("Open photo, 3D file or body…").clicked() {
                ui.close();
                if let Some(p) = rfd::FileDialog::new().add_filter("supported", &OPEN_EXTENSIONS).pick_file() {
                    self.open_path(&p);
                }
            }
            if ui.button("Open project…").clicked() {
                ui.close();
                if let Some(p) = rfd::FileDialog::new().add_filter("Carve project", &["carve"]).pick_file() {
                    self.open_project(&p);
                }
            }
            if ui.button("Save project…").clicked() {
                ui.close();
                if let Some(p) = rfd::FileDialog::new()
                    .add_filter("Carve project", &["carve"])
                    .set_file_name("project.carve")
                    .save_file()
                {
                    self.save_project(&p);
                }
            }
            if ui.button("Export all masks (COCO)…").clicked() {
                ui.close();
                if let Some(p) =
                    rfd::FileDialog::new().add_filter("COCO JSON", &["json"]).set_file_name("masks.json").save_file()
                {
                    self.export_all_masks(&p);
                }
            }
            let recover = self.session.autosave_path().filter(|p| p.exists()).map(Path::to_owned);
            if ui.add_enabled(recover.is_some(), egui::Button::new("Recover last session")).clicked() {
                ui.close();
                if let Some(p) = recover {
                    self.open_project(&p);
                }
            }
            ui.menu_button("Recent", |ui| {
                if self.session.recent.is_empty() {
                    ui.weak("nothing yet");
                }
                for p in self.session.recent.clone() {
                    if ui.button(p.display().to_string()).clicked() {
                        ui.close();
                        self.open_path(&p);
                    }
                }
            });
        });
    }

    /// Writes every mask of the photo as one COCO JSON.
    fn export_all_masks(&mut self, path: &Path) {
        let masks: Vec<ExportMask<'_>> = self
            .workbench
            .masks
            .iter()
            .map(|m| ExportMask { mask: &m.mask, score: m.score, label: m.label.as_deref(), engine: m.engine.as_str() })
            .collect();
        let image = ExportImage {
            file_name: &self.photo.name,
            width: self.workbench.image.width(),
            height: self.workbench.image.height(),
            masks,
        };
        let written = crate::io::mask_export::write_coco(path, &[image]);
        self.report(written, |_| format!("wrote {}", path.display()));
    }
}
