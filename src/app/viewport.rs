//! The renderer inside egui (the bridge between `render`, which knows nothing of egui, and the
//! window): [`Viewport3d`] renders the scene into its own colour + depth targets
//! (MSAA, resolved to a texture) whenever the view changes, and egui composites that texture into
//! the UI. Mouse: left-drag orbits, right- or middle-drag pans, the wheel dollies, double-click
//! frames everything. [`ViewportPane`] is the window's 3D pane: the viewport, created on first use
//! from eframe's wgpu device, and the [`PendingScene`] waiting for it.

use crate::render::camera::OrbitCamera;
use crate::render::{GpuScene, RenderSettings, Renderer, Scene, Targets};

/// The render targets and the egui texture showing their resolved colour.
struct ShownTargets {
    targets: Targets,
    texture_id: egui::TextureId,
}

/// What the current texture was rendered with (re-render when it differs). Every setting is part
/// of the key, so any change (colour, splat scale, wireframe) re-renders.
#[derive(Clone, Copy, PartialEq)]
struct RenderKey {
    orbit: OrbitCamera,
    size_px: [u32; 2],
    settings: RenderSettings,
}

/// An interactive 3D view for egui, on eframe's wgpu device.
pub struct Viewport3d {
    renderer: Renderer,
    scene: Option<GpuScene>,
    pub orbit: OrbitCamera,
    pub settings: RenderSettings,
    targets: Option<ShownTargets>,
    rendered: Option<RenderKey>,
}

impl Viewport3d {
    pub fn new(render_state: &egui_wgpu::RenderState) -> Self {
        Self {
            renderer: Renderer::new(&render_state.device),
            scene: None,
            orbit: OrbitCamera::default(),
            settings: RenderSettings::default(),
            targets: None,
            rendered: None,
        }
    }

    /// Replaces what is shown; `reframe` also frames it (`up`: +Y for glTF/MHR, −Y for
    /// OpenCV-frame scenes). Without `reframe` the camera stays (e.g. while a slider moves).
    pub fn set_scene(&mut self, render_state: &egui_wgpu::RenderState, scene: &Scene, up: glam::Vec3, reframe: bool) {
        let gpu = self.renderer.upload(&render_state.device, &render_state.queue, scene, &self.settings);
        if let Some(bounds) = gpu.bounds.filter(|_| reframe) {
            self.orbit = OrbitCamera::framing(bounds, up);
            if up.y < 0.0 {
                // OpenCV-frame scenes (a photo's camera at the origin looking along +z): start
                // from behind and above that camera rather than facing it.
                self.orbit.yaw_rad = std::f32::consts::PI - 0.6;
            }
        }
        self.scene = Some(gpu);
        self.rendered = None;
    }

    pub fn has_scene(&self) -> bool {
        self.scene.is_some()
    }

    /// Draws the view into the remaining space of `ui` and handles its mouse input.
    pub fn viewport_ui(&mut self, ui: &mut egui::Ui, render_state: &egui_wgpu::RenderState) -> egui::Response {
        let (rect, response) = ui.allocate_exact_size(ui.available_size(), egui::Sense::click_and_drag());
        if response.dragged_by(egui::PointerButton::Primary) {
            let d = response.drag_delta();
            self.orbit.orbit(d.x, -d.y);
        }
        if response.dragged_by(egui::PointerButton::Secondary) || response.dragged_by(egui::PointerButton::Middle) {
            let d = response.drag_delta();
            self.orbit.pan(d.x, d.y, rect.height());
        }
        if response.hovered() {
            let scroll = ui.input(|i| i.smooth_scroll_delta.y);
            if scroll != 0.0 {
                self.orbit.dolly((-scroll * 0.002).exp());
            }
        }
        if response.double_clicked()
            && let Some(bounds) = self.scene.as_ref().and_then(|s| s.bounds)
        {
            self.orbit.frame(bounds);
        }
        let ppp = ui.ctx().pixels_per_point();
        let size = [((rect.width() * ppp) as u32).clamp(1, 8192), ((rect.height() * ppp) as u32).clamp(1, 8192)];
        if self.scene.is_none() {
            ui.painter().rect_filled(rect, 0.0, egui::Color32::from_gray(30));
            ui.painter().text(
                rect.center(),
                egui::Align2::CENTER_CENTER,
                "drop a .ply or .glb here",
                egui::FontId::proportional(14.0),
                egui::Color32::GRAY,
            );
            return response;
        }
        self.ensure_targets(render_state, size);
        let key = RenderKey { orbit: self.orbit, size_px: size, settings: self.settings };
        if self.rendered != Some(key) {
            self.render(render_state);
            self.rendered = Some(key);
        }
        if let Some(shown) = &self.targets {
            let uv = egui::Rect::from_min_max(egui::pos2(0.0, 0.0), egui::pos2(1.0, 1.0));
            ui.painter().image(shown.texture_id, rect, uv, egui::Color32::WHITE);
        }
        response
    }

    fn ensure_targets(&mut self, render_state: &egui_wgpu::RenderState, size: [u32; 2]) {
        if self.targets.as_ref().is_some_and(|t| t.targets.size == size) {
            return;
        }
        let device = &render_state.device;
        let targets = Targets::new(device, size, wgpu::TextureUsages::TEXTURE_BINDING);
        let mut egui_renderer = render_state.renderer.write();
        let texture_id = match &self.targets {
            Some(ShownTargets { texture_id: id, .. }) => {
                egui_renderer.update_egui_texture_from_wgpu_texture(
                    device,
                    &targets.resolved,
                    wgpu::FilterMode::Linear,
                    *id,
                );
                *id
            }
            None => egui_renderer.register_native_texture(device, &targets.resolved, wgpu::FilterMode::Linear),
        };
        self.targets = Some(ShownTargets { targets, texture_id });
        self.rendered = None;
    }

    fn render(&mut self, render_state: &egui_wgpu::RenderState) {
        let (Some(scene), Some(ShownTargets { targets: t, .. })) = (self.scene.as_mut(), self.targets.as_ref()) else {
            return;
        };
        let camera = self.orbit.camera(t.size[0], t.size[1]);
        self.renderer.prepare(&render_state.queue, scene, &camera, &self.settings);
        let mut encoder =
            render_state.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("viewport") });
        self.renderer.record(&mut encoder, t, scene, &self.settings);
        render_state.queue.submit([encoder.finish()]);
    }
}

/// A scene waiting for the viewport (built before the GPU is known, or between frames).
pub struct PendingScene {
    pub scene: Scene,
    /// The scene's up direction: +Y for glTF/MHR, −Y for OpenCV-frame scenes.
    pub up: glam::Vec3,
    /// Frame the scene (otherwise the camera stays, e.g. while a slider moves).
    pub reframe: bool,
}

/// The window's 3D pane.
#[derive(Default)]
pub struct ViewportPane {
    viewport: Option<Viewport3d>,
    /// The next scene to show.
    pending: Option<PendingScene>,
}

impl ViewportPane {
    /// Shows `scene` from the next frame on.
    pub fn show(&mut self, scene: Scene, up: glam::Vec3, reframe: bool) {
        self.pending = Some(PendingScene { scene, up, reframe });
    }

    /// The render settings, once the viewport exists.
    pub fn settings_mut(&mut self) -> Option<&mut RenderSettings> {
        self.viewport.as_mut().map(|v| &mut v.settings)
    }

    /// The 3D viewport in the remaining space of `ui`.
    pub fn pane_ui(&mut self, ui: &mut egui::Ui, frame: &eframe::Frame) {
        let Some(render_state) = frame.wgpu_render_state() else {
            ui.label("3D view unavailable: no wgpu device");
            return;
        };
        let viewport = self.viewport.get_or_insert_with(|| Viewport3d::new(render_state));
        if let Some(p) = self.pending.take() {
            viewport.set_scene(render_state, &p.scene, p.up, p.reframe);
        }
        viewport.viewport_ui(ui, render_state);
    }
}
