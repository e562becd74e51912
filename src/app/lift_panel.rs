//! The lifted object or scene: its layers in the 3D view (splats, voxel surfaces, the photo at its
//! camera) and its exports (PLY splats, GLB mesh; a scene's folder).

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

/// The last lift (one object, or every mask as a scene) and which of its layers the viewport shows.
pub struct LiftView {
    pub lifted: Option<Lifted>,
    pub scene: Option<Box<crate::lift::scene::SceneLift>>,
    pub show_splats: bool,
    pub show_voxels: bool,
    pub show_photo: bool,
}

impl Default for LiftView {
    fn default() -> Self {
        Self { lifted: None, scene: None, show_splats: true, show_voxels: false, show_photo: true }
    }
}

impl CarveApp {
    /// Sends the last lift to the viewport with the chosen layers.
    pub(super) fn show_lift(&mut self, reframe: bool) {
        if let Some(scene) = &self.lift.scene {
            let outputs: Vec<&LiftOutput> = scene.objects.iter().map(|o| &o.output).collect();
            let shown = self.lift_scene_of(scene.camera, &outputs);
            self.viewport.show(shown, -glam::Vec3::Y, reframe);
            return;
        }
        let Some(Lifted { output, .. }) = &self.lift.lifted else { return };
        let shown = self.lift_scene_of(output.camera, &[output.as_ref()]);
        self.viewport.show(shown, -glam::Vec3::Y, reframe);
    }

    /// The viewport scene of lifted objects seen from `camera`, with the chosen layers.
    fn lift_scene_of(&self, camera: crate::core::camera::Camera, outputs: &[&LiftOutput]) -> Scene {
        let mut scene = Scene::default();
        let depth = outputs.iter().map(|o| o.grid.layout.translation[2] + o.grid.layout.scale).fold(0.0f64, f64::max);
        if self.lift.show_photo {
            scene.photos.push(PhotoPlane { image: (*self.workbench.image).clone(), camera, depth });
        }
        scene.lines.push(LineSet::frustum(&camera, depth, [1.0, 0.85, 0.3, 1.0]));
        for output in outputs {
            if self.lift.show_splats {
                scene.splats.push(output.splats.clone());
            }
            if self.lift.show_voxels {
                scene.meshes.push(output.mesh.clone());
            }
        }
        scene
    }

    /// The layer checkboxes; true when one changed.
    fn lift_layers_ui(&mut self, ui: &mut egui::Ui) -> bool {
        let mut changed = false;
        ui.horizontal(|ui| {
            changed |= ui.checkbox(&mut self.lift.show_splats, "splats").changed();
            changed |= ui.checkbox(&mut self.lift.show_voxels, "voxels").changed();
            changed |= ui.checkbox(&mut self.lift.show_photo, "photo").changed();
        });
        changed
    }

    /// The lifted scene's layers and its export (a folder: scene.json, scene.glb, objects/…).
    fn lift_scene_panel_ui(&mut self, ui: &mut egui::Ui) {
        let Some(scene) = &self.lift.scene else { return };
        ui.separator();
        let splats: usize = scene.objects.iter().map(|o| o.output.splats.len()).sum();
        ui.label(format!("3D: scene of {} objects ({splats} splats)", scene.objects.len()));
        let changed = self.lift_layers_ui(ui);
        if ui.button("Export scene…").on_hover_text("scene.json, scene.glb (a node per object), objects/…").clicked()
            && let Some(dir) = rfd::FileDialog::new().pick_folder()
            && let Some(scene) = &self.lift.scene
        {
            let written = crate::lift::scene::write_scene_outputs(&dir, scene);
            self.report(written, |w| format!("wrote {} files into {}", w.len(), dir.display()));
        }
        if changed {
            self.show_lift(false);
        }
    }

    /// The lifted object's (or scene's) layers and exports.
    pub(super) fn lift_panel_ui(&mut self, ui: &mut egui::Ui) {
        if self.lift.scene.is_some() {
            return self.lift_scene_panel_ui(ui);
        }
        let Some(Lifted { name, output }) = &self.lift.lifted else { return };
        ui.separator();
        ui.label(format!("3D: {name} ({} splats)", output.splats.len()));
        let stem = name.replace(' ', "_");
        let changed = self.lift_layers_ui(ui);
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
