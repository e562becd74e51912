//! The Bodies tab (demo body, SAM 3D Body import, fit to the selected mask, LOD, skeleton and
//! overlay toggles, GLB export, parameter sliders) and the body's 3D scene.

use std::path::Path;

use super::bodies::{Body, BodyScene};
use super::cache::GenerationCache;
use super::{CarveApp, SideTab, View};
use crate::core::geometry::LineSet;
use crate::render::{PhotoPlane, Scene};

/// Which body generation the viewport shows.
#[derive(Clone, Copy, Default)]
pub struct BodyShown {
    pub generation: u64,
    /// Whether the body was framed once (later changes keep the camera).
    pub framed: bool,
}

/// How the body is shown: in the viewport, and over the photo.
pub struct BodyView {
    pub shown: BodyShown,
    /// The body drawn over the photo (when placed in a camera), for a body generation.
    pub overlay: GenerationCache<Option<egui::TextureHandle>>,
    pub show_overlay: bool,
}

impl Default for BodyView {
    fn default() -> Self {
        Self { shown: BodyShown::default(), overlay: GenerationCache::default(), show_overlay: true }
    }
}

impl CarveApp {
    /// Sends the body to the viewport when it changed (framing it the first time).
    pub(super) fn update_body_scene(&mut self) {
        if self.bodies.generation == self.body_view.shown.generation || self.bodies.body.is_none() {
            return;
        }
        let reframe = !self.body_view.shown.framed;
        self.body_view.shown = BodyShown { generation: self.bodies.generation, framed: true };
        let Some(BodyScene { mesh, skeleton, y_down }) = self.bodies.scene_mesh() else { return };
        let mut scene = Scene::default();
        if y_down {
            // Placed in a camera: show the photo where that camera saw it, behind the body.
            if let Some(k) = self.bodies.camera() {
                let depth = mesh.bounds().map(|b| b.max.z as f64 * 1.05).unwrap_or(5.0);
                let camera = crate::core::camera::Camera::new(
                    k.width_px,
                    k.height_px,
                    k.intrinsics.focal_px,
                    k.intrinsics.focal_px,
                    k.intrinsics.cx,
                    k.intrinsics.cy,
                    glam::DMat4::IDENTITY,
                );
                match camera {
                    Ok(camera) => {
                        scene.lines.push(LineSet::frustum(&camera, depth, [1.0, 0.85, 0.3, 1.0]));
                        if (k.width_px, k.height_px) == (self.photo.image.width(), self.photo.image.height()) {
                            scene.photos.push(PhotoPlane { image: self.photo.image.clone(), camera, depth });
                        }
                    }
                    Err(e) => tracing::warn!("the body's camera is not shown: {e}"),
                }
            }
        } else {
            scene.lines.push(LineSet::grid([0.0; 3], 0.25, 12, glam::Vec3::Y, [0.35, 0.35, 0.38, 1.0]));
        }
        scene.meshes.push(mesh);
        scene.lines.extend(skeleton);
        let up = if y_down { -glam::Vec3::Y } else { glam::Vec3::Y };
        self.viewport.show(scene, up, reframe);
        if self.view == View::Photo {
            self.view = View::Split;
        }
    }

    /// The Bodies tab: demo body, import, fit, LOD, sliders, toggles, export.
    pub(super) fn bodies_ui(&mut self, ui: &mut egui::Ui) {
        ui.horizontal_wrapped(|ui| {
            if ui.add_enabled(!self.bodies.busy(), egui::Button::new("Demo body")).clicked() {
                self.bodies.load_demo();
            }
            if ui.button("Import SAM 3D Body…").clicked()
                && let Some(path) = rfd::FileDialog::new().add_filter("SAM 3D Body output", &["npz"]).pick_file()
            {
                self.import_body(&path);
            }
        });
        let can_fit = !self.bodies.busy()
            && matches!(self.bodies.body, Some(Body::Rig { .. }))
            && self.workbench.selected.is_some();
        if ui
            .add_enabled(can_fit, egui::Button::new("Fit to selected mask"))
            .on_disabled_hover_text("load the demo body and select a person's mask")
            .clicked()
            && let Some(i) = self.workbench.selected
            && let Some(m) = self.workbench.masks.get(i)
        {
            let started = self.bodies.fit(&m.mask);
            self.check(started);
        }
        let can_predict = !self.bodies.busy() && self.workbench.selected.is_some();
        if ui
            .add_enabled(can_predict, egui::Button::new("Body from photo"))
            .on_hover_text("SAM 3D Body on the photo for the selected person's mask (its box and the mask as prompts)")
            .on_disabled_hover_text("select a person's mask")
            .clicked()
            && let Some(i) = self.workbench.selected
            && let Some(m) = self.workbench.masks.get(i)
        {
            let started = self.bodies.predict_from_photo(&self.photo.image, &m.mask);
            self.check(started);
        }
        let Some(counts) = self.bodies.counts() else {
            ui.weak("No body yet: load the demo body, import a SAM 3D Body .npz (or drop it on the window).");
            return;
        };
        ui.separator();
        ui.label("Level of detail");
        ui.horizontal_wrapped(|ui| {
            for lod in 0..7 {
                if ui.selectable_label(self.bodies.lod == lod, format!("LOD {lod}")).clicked() {
                    let switched = self.bodies.set_lod(lod);
                    self.check(switched);
                }
            }
        });
        ui.label(format!("LOD {}: {} vertices · {} triangles", self.bodies.lod, counts.vertices, counts.triangles));
        ui.horizontal(|ui| {
            if ui.checkbox(&mut self.bodies.show_skeleton, "skeleton").changed() {
                self.bodies.edited();
            }
            if let Some(settings) = self.viewport.settings_mut() {
                ui.checkbox(&mut settings.wireframe, "wireframe");
            }
            ui.checkbox(&mut self.body_view.show_overlay, "on photo");
        });
        if ui.button("Export GLB…").clicked()
            && let Some(path) =
                rfd::FileDialog::new().add_filter("glTF binary", &["glb"]).set_file_name("body.glb").save_file()
        {
            let written = self.bodies.export_glb(&path);
            self.report(written, |_| format!("wrote {}", path.display()));
        }
        self.body_sliders_ui(ui);
    }

    /// Sliders for identity, expression, scale, root and per-joint pose parameters.
    fn body_sliders_ui(&mut self, ui: &mut egui::Ui) {
        let Some(Body::Rig { rig, params, .. }) = &mut self.bodies.body else { return };
        let rig = rig.clone();
        let mut started = false;
        let mut changed = false;
        let mut slider = |ui: &mut egui::Ui, value: &mut f32, range: std::ops::RangeInclusive<f32>, name: &str| {
            let r = ui.add(egui::Slider::new(value, range).text(name));
            started |= r.drag_started() || (r.changed() && !r.dragged());
            changed |= r.changed();
        };
        let mut before = params.clone();
        egui::CollapsingHeader::new("Identity").default_open(true).show(ui, |ui| {
            for (i, name) in rig.identity_names.iter().enumerate() {
                slider(ui, &mut params.identity[i], -3.0..=3.0, name);
            }
        });
        egui::CollapsingHeader::new("Expression").show(ui, |ui| {
            for (i, name) in rig.expression_names.iter().enumerate() {
                slider(ui, &mut params.expression[i], -1.0..=2.0, name);
            }
        });
        for (group, indices) in &rig.parameter_groups {
            egui::CollapsingHeader::new(format!("Pose: {group}")).show(ui, |ui| {
                for &i in indices {
                    let i = i as usize;
                    let [lo, hi] = rig.parameter_limits[i];
                    let (lo, hi) = if lo < hi { (lo, hi) } else { (-0.01, 0.01) };
                    slider(ui, &mut params.model[i], lo..=hi, &rig.parameter_names[i]);
                }
            });
        }
        if started {
            // Record the parameters from before this frame's change as the undo step.
            std::mem::swap(&mut before, params);
            self.bodies.begin_edit();
            if let Some(Body::Rig { params, .. }) = &mut self.bodies.body {
                *params = before;
            }
        }
        if changed {
            self.bodies.edited();
        }
    }

    /// Imports a SAM 3D Body output into the Bodies tab.
    pub(super) fn import_body(&mut self, path: &Path) {
        let imported = self.bodies.import(path);
        if self.report(imported, |_| format!("{}: SAM 3D Body output imported", path.display())).is_some() {
            self.side_tab = SideTab::Bodies;
            self.body_view.shown.framed = false;
        }
    }
}
