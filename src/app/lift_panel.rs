//! The lifted object: its layers in the 3D view (splats, voxel surface, the photo at its camera)
//! and its exports (PLY splats, GLB mesh).

use super::CarveApp;
use crate::core::geometry::LineSet;
use crate::lift::LiftOutput;
use crate::render::{PhotoPlane, Scene};

/// The last lift.
pub struct Lifted {
    /// The mask's name.
    pub name: String,
    pub output: Box<LiftOutput>,
}

/// The last lift and which of its layers the viewport shows.
pub struct LiftView {
    pub lifted: Option<Lifted>,
    pub show_splats: bool,
    pub show_voxels: bool,
    pub show_photo: bool,
}

impl Default for LiftView {
    fn default() -> Self {
        Self { lifted: None, show_splats: true, show_voxels: false, show_photo: true }
    }
}

impl CarveApp {
    /// Sends the last lift to the viewport with the chosen layers.
    pub(super) fn show_lift(&mut self, reframe: bool) {
        let Some(Lifted { output, .. }) = &self.lift.lifted else { return };
        let mut scene = Scene::default();
        let depth = output.grid.layout.translation[2] + output.grid.layout.scale;
        if self.lift.show_photo {
            scene.photos.push(PhotoPlane { image: (*self.workbench.image).clone(), camera: output.camera, depth });
        }
        scene.lines.push(LineSet::frustum(&output.camera, depth, [1.0, 0.85, 0.3, 1.0]));
        if self.lift.show_splats {
            scene.splats.push(output.splats.clone());
        }
        if self.lift.show_voxels {
            scene.meshes.push(output.mesh.clone());
        }
        self.viewport.show(scene, -glam::Vec3::Y, reframe);
    }

    /// The lifted object's layers and exports.
    pub(super) fn lift_panel_ui(&mut self, ui: &mut egui::Ui) {
        let Some(Lifted { name, output }) = &self.lift.lifted else { return };
        ui.separator();
        ui.label(format!("3D: {name} ({} splats)", output.splats.len()));
        let stem = name.replace(' ', "_");
        let mut changed = false;
        ui.horizontal(|ui| {
            changed |= ui.checkbox(&mut self.lift.show_splats, "splats").changed();
            changed |= ui.checkbox(&mut self.lift.show_voxels, "voxels").changed();
            changed |= ui.checkbox(&mut self.lift.show_photo, "photo").changed();
        });
        ui.horizontal(|ui| {
            if ui.button("Export PLY…").on_hover_text("3D Gaussian splats").clicked()
                && let Some(p) =
                    rfd::FileDialog::new().add_filter("PLY", &["ply"]).set_file_name(format!("{stem}.ply")).save_file()
                && let Some(lifted) = &self.lift.lifted
            {
                let written = crate::io::ply::write_splats_ply(&p, &lifted.output.splats);
                self.report(written, |_| format!("wrote {}", p.display()));
            }
            if ui.button("Export GLB…").on_hover_text("the voxel surface mesh").clicked()
                && let Some(p) = rfd::FileDialog::new()
                    .add_filter("glTF binary", &["glb"])
                    .set_file_name(format!("{stem}.glb"))
                    .save_file()
                && let Some(lifted) = &self.lift.lifted
            {
                let written = crate::io::gltf::write_glb(&p, &lifted.output.mesh);
                self.report(written, |_| format!("wrote {}", p.display()));
            }
        });
        if changed {
            self.show_lift(false);
        }
    }
}
