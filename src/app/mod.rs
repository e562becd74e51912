//! The egui workbench window. For now: the photo viewer that opens the embedded demo (or a photo
//! dropped on the window / given on the command line). The segmentation tools, 3D viewport and
//! body panels plug in here as their issues land; all work happens in the library.

pub mod workbench;

use std::path::{Path, PathBuf};

use crate::core::image::Image;

/// Why the window could not open.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(
        "no display found ($DISPLAY and $WAYLAND_DISPLAY are unset): Carve's window needs a graphical \
         session. Everything it does is also available headless: run `carve --help` (e.g. `carve models`)"
    )]
    NoDisplay,
    #[error("could not open the window: {0}")]
    Window(String),
}

/// Errors unless a display server is reachable (Linux/BSD; always fine elsewhere).
pub fn check_display() -> Result<(), AppError> {
    if cfg!(all(unix, not(target_os = "macos"))) {
        let set = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty());
        if !set("DISPLAY") && !set("WAYLAND_DISPLAY") {
            return Err(AppError::NoDisplay);
        }
    }
    Ok(())
}

/// What the window shows first.
pub enum StartImage {
    /// The embedded demo photo.
    Demo,
    /// A photo from disk.
    File(PathBuf),
}

/// Opens the workbench window and blocks until it is closed.
pub fn run_gui(start: StartImage) -> Result<(), AppError> {
    check_display()?;
    let mut options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("Carve")
            .with_app_id("carve")
            .with_inner_size([1280.0, 820.0]),
        ..Default::default()
    };
    // Large splat clouds need the adapter's real storage-buffer limits, not the portable defaults.
    if let egui_wgpu::WgpuSetup::CreateNew(setup) = &mut options.wgpu_options.wgpu_setup {
        setup.device_descriptor = std::sync::Arc::new(|adapter: &wgpu::Adapter| wgpu::DeviceDescriptor {
            label: Some("carve"),
            required_limits: adapter.limits(),
            ..Default::default()
        });
    }
    eframe::run_native("Carve", options, Box::new(move |_cc| Ok(Box::new(CarveApp::new(start)))))
        .map_err(|e| AppError::Window(e.to_string()))
}

/// The photo on screen: the decoded image, where it came from, and its GPU texture.
struct Photo {
    image: Image,
    name: String,
    texture: Option<egui::TextureHandle>,
}

/// What the central area shows.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum View {
    Photo,
    Split,
    ThreeD,
}

/// The workbench state.
pub struct CarveApp {
    photo: Photo,
    status: String,
    error: Option<String>,
    view: View,
    viewport: Option<crate::render::egui_view::Viewport3d>,
    /// A 3D scene waiting for the viewport (built before the GPU is known).
    pending_scene: Option<(crate::render::Scene, glam::Vec3)>,
    workbench: workbench::Workbench,
    /// Mask overlays at the photo texture's size, and the workbench generation they show.
    overlays: (u64, Vec<Option<egui::TextureHandle>>),
}

/// The segmentation engine the window uses: `auto` over the model folders found (SAM 3 when a
/// valid one is present), falling back to the classical engine with the reason.
fn window_segmenter() -> (Box<dyn crate::segment::Segmenter>, Option<String>) {
    let env = std::env::var_os("CARVE_MODELS");
    let models =
        crate::model::search_dirs(None, env.as_deref()).map(|d| crate::model::find_models(&d)).unwrap_or_default();
    match crate::segment::run::make_segmenter(crate::segment::EngineChoice::Auto, &models) {
        Ok(s) => (s, None),
        Err(e) => (
            Box::new(crate::segment::ClassicalSegmenter::default()),
            Some(format!("SAM 3 unavailable, using the classical engine: {e}")),
        ),
    }
}

impl CarveApp {
    pub fn new(start: StartImage) -> Self {
        let demo =
            || Photo { image: crate::demo::still_life(), name: crate::demo::STILL_LIFE_NAME.to_owned(), texture: None };
        let photo = demo();
        let (segmenter, engine_error) = window_segmenter();
        let workbench = workbench::Workbench::new(photo.image.clone(), segmenter);
        let mut app = Self {
            photo,
            status: String::new(),
            error: engine_error,
            view: View::Split,
            viewport: None,
            pending_scene: None,
            workbench,
            overlays: (u64::MAX, Vec::new()),
        };
        app.pending_scene = Some((photo_scene(&app.photo.image), -glam::Vec3::Y));
        if let StartImage::File(path) = start {
            app.open_image(&path);
        }
        app
    }

    /// Opens a dropped or chosen file: a photo, or a 3D file for the viewport.
    fn open_path(&mut self, path: &Path) {
        let ext = path.extension().map(|e| e.to_string_lossy().to_lowercase()).unwrap_or_default();
        if matches!(ext.as_str(), "ply" | "glb" | "gltf") {
            let mut scene = crate::render::Scene::default();
            match crate::io::load_into_scene(path, &mut scene) {
                Ok(kind) => {
                    self.status = format!("{}: {kind}", path.display());
                    self.pending_scene = Some((scene, glam::Vec3::Y));
                    if self.view == View::Photo {
                        self.view = View::Split;
                    }
                    self.error = None;
                }
                Err(e) => self.error = Some(e.to_string()),
            }
            return;
        }
        self.open_image(path);
    }

    fn open_image(&mut self, path: &Path) {
        match Image::load(path) {
            Ok(image) => {
                self.pending_scene = Some((photo_scene(&image), -glam::Vec3::Y));
                let (segmenter, engine_error) = window_segmenter();
                self.workbench = workbench::Workbench::new(image.clone(), segmenter);
                self.overlays = (u64::MAX, Vec::new());
                self.error = engine_error;
                self.photo = Photo { image, name: path.display().to_string(), texture: None };
            }
            // The current photo stays: a bad file never loses what the user has open.
            Err(e) => self.error = Some(e.to_string()),
        }
    }

    fn texture(&mut self, ctx: &egui::Context) -> egui::TextureHandle {
        if let Some(t) = &self.photo.texture {
            return t.clone();
        }
        let max_side = ctx.input(|i| i.max_texture_side) as u32;
        let rgb = self.photo.image.rgb();
        let shown = if rgb.width() > max_side || rgb.height() > max_side {
            let scale = f64::from(max_side) / f64::from(rgb.width().max(rgb.height()));
            let (w, h) = ((f64::from(rgb.width()) * scale) as u32, (f64::from(rgb.height()) * scale) as u32);
            image::imageops::resize(rgb, w.max(1), h.max(1), image::imageops::FilterType::Triangle)
        } else {
            rgb.clone()
        };
        let color = egui::ColorImage::from_rgb([shown.width() as usize, shown.height() as usize], shown.as_raw());
        let texture = ctx.load_texture("photo", color, egui::TextureOptions::LINEAR);
        self.photo.texture = Some(texture.clone());
        texture
    }

    /// Top bar: what is open.
    fn top_bar_ui(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            ui.strong("Carve");
            ui.separator();
            ui.label(format!("{}  ·  {}×{}", self.photo.name, self.photo.image.width(), self.photo.image.height()));
            ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                ui.selectable_value(&mut self.view, View::ThreeD, "3D");
                ui.selectable_value(&mut self.view, View::Split, "Split");
                ui.selectable_value(&mut self.view, View::Photo, "Photo");
                if let Some(v) = &mut self.viewport {
                    ui.separator();
                    ui.checkbox(&mut v.settings.wireframe, "wireframe");
                    ui.add(egui::Slider::new(&mut v.settings.splat_scale, 0.1..=3.0).text("splat scale"));
                }
            });
        });
    }

    /// Status bar: errors first, then hints.
    fn status_bar_ui(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            if let Some(error) = &self.error {
                ui.colored_label(ui.visuals().error_fg_color, error);
                if ui.small_button("dismiss").clicked() {
                    self.error = None;
                }
            } else {
                ui.label(if self.status.is_empty() {
                    "Drop a photo, or a .ply/.glb for the 3D view. 3D: drag to orbit, right-drag to pan, wheel to zoom, double-click to frame."
                } else {
                    &self.status
                });
            }
            ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                ui.weak(format!("libtorch {}", crate::model::libtorch_version()));
                if self.workbench.busy() {
                    if ui.small_button("cancel").clicked() {
                        self.workbench.cancel_all();
                    }
                    for (label, fraction, message) in self.workbench.progress() {
                        ui.add(egui::ProgressBar::new(fraction).desired_width(160.0).text(format!("{label}: {message}")));
                    }
                }
            });
        });
    }

    /// Overlay textures of the visible masks, rebuilt when the masks change.
    fn overlay_textures(&mut self, ctx: &egui::Context, size: [usize; 2]) {
        if self.overlays.0 == self.workbench.generation {
            return;
        }
        let image = &self.workbench.image;
        let (iw, ih) = (image.width() as usize, image.height() as usize);
        let textures = self
            .workbench
            .masks
            .iter()
            .enumerate()
            .map(|(i, m)| {
                m.visible.then(|| {
                    let [r, g, b] = m.color;
                    let pixels: Vec<egui::Color32> = (0..size[0] * size[1])
                        .map(|k| {
                            let (x, y) = ((k % size[0]) * iw / size[0], (k / size[0]) * ih / size[1]);
                            if m.mask.get(x as u32, y as u32) {
                                egui::Color32::from_rgba_unmultiplied(r, g, b, 110)
                            } else {
                                egui::Color32::TRANSPARENT
                            }
                        })
                        .collect();
                    ctx.load_texture(
                        format!("mask {i}"),
                        egui::ColorImage::new(size, pixels),
                        egui::TextureOptions::NEAREST,
                    )
                })
            })
            .collect();
        self.overlays = (self.workbench.generation, textures);
    }

    /// The photo, fitted to the available space, with its masks; left click adds an object,
    /// right click (or shift-click) refines the selected one with a negative click.
    fn canvas_ui(&mut self, ui: &mut egui::Ui) {
        let texture = self.texture(ui.ctx());
        let available = ui.available_size();
        let size = texture.size_vec2();
        let scale = (available.x / size.x).min(available.y / size.y).max(0.01);
        let (rect, response) = ui.allocate_exact_size(available, egui::Sense::click());
        let image_rect = egui::Rect::from_center_size(rect.center(), size * scale);
        let uv = egui::Rect::from_min_max(egui::pos2(0.0, 0.0), egui::pos2(1.0, 1.0));
        ui.painter().image(texture.id(), image_rect, uv, egui::Color32::WHITE);
        self.overlay_textures(ui.ctx(), texture.size());
        for overlay in self.overlays.1.iter().flatten() {
            ui.painter().image(overlay.id(), image_rect, uv, egui::Color32::WHITE);
        }
        let shift = ui.input(|i| i.modifiers.shift);
        let label = if response.secondary_clicked() || (response.clicked() && shift) {
            Some(crate::core::prompt::PointLabel::Negative)
        } else if response.clicked() {
            Some(crate::core::prompt::PointLabel::Positive)
        } else {
            None
        };
        if let (Some(label), Some(pos)) = (label, response.interact_pointer_pos())
            && image_rect.contains(pos)
        {
            let (w, h) = (self.workbench.image.width() as f32, self.workbench.image.height() as f32);
            let x = (pos.x - image_rect.min.x) / image_rect.width() * w;
            let y = (pos.y - image_rect.min.y) / image_rect.height() * h;
            self.workbench.click(x, y, label);
        }
    }

    /// The mask list: colour, name, engine and score, visibility, delete; lift the selected one.
    fn masks_ui(&mut self, ui: &mut egui::Ui) {
        ui.heading("Masks");
        ui.weak("click: new object · right-click: refine · Ctrl+Z / Ctrl+Shift+Z: undo / redo");
        ui.separator();
        let mut delete = None;
        let mut visibility = None;
        for (i, m) in self.workbench.masks.iter().enumerate() {
            ui.horizontal(|ui| {
                let [r, g, b] = m.color;
                let (swatch, _) = ui.allocate_exact_size(egui::vec2(12.0, 12.0), egui::Sense::hover());
                ui.painter().rect_filled(swatch, 2.0, egui::Color32::from_rgb(r, g, b));
                let mut visible = m.visible;
                if ui.checkbox(&mut visible, "").changed() {
                    visibility = Some((i, visible));
                }
                if ui.selectable_label(self.workbench.selected == Some(i), &m.name).clicked() {
                    self.workbench.selected = Some(i);
                }
                ui.weak(format!("{} {:.2}", m.engine.as_str(), m.score));
                if ui.small_button("delete").clicked() {
                    delete = Some(i);
                }
            });
        }
        if let Some((i, v)) = visibility {
            self.workbench.set_visible(i, v);
        }
        if let Some(i) = delete {
            self.workbench.delete(i);
        }
        ui.separator();
        let can_lift = self.workbench.selected.is_some() && !self.workbench.busy();
        if ui.add_enabled(can_lift, egui::Button::new("Lift selected to 3D")).clicked()
            && let Err(e) = self.workbench.lift_selected()
        {
            self.error = Some(e);
        }
    }

    /// Takes finished background work and keyboard shortcuts.
    fn poll_ui(&mut self, ctx: &egui::Context) {
        for finished in self.workbench.poll() {
            match finished {
                workbench::Finished::Lifted { name, output } => {
                    let mut scene = crate::render::Scene::default();
                    let depth = output.grid.layout.translation[2] + output.grid.layout.scale;
                    scene.photos.push(crate::render::PhotoPlane {
                        image: (*self.workbench.image).clone(),
                        camera: output.camera,
                        depth,
                    });
                    scene.lines.push(crate::geometry::LineSet::frustum(&output.camera, depth, [1.0, 0.85, 0.3, 1.0]));
                    scene.splats.push(output.splats);
                    self.pending_scene = Some((scene, -glam::Vec3::Y));
                    if self.view == View::Photo {
                        self.view = View::Split;
                    }
                    self.status = format!("{name} lifted ({})", output.engine);
                }
                workbench::Finished::Failed(e) => self.error = Some(e),
            }
        }
        let (undo, redo) = ctx.input(|i| {
            let z = i.key_pressed(egui::Key::Z) && i.modifiers.command;
            (z && !i.modifiers.shift, z && i.modifiers.shift)
        });
        if undo {
            self.workbench.undo();
        }
        if redo {
            self.workbench.redo();
        }
        if self.workbench.busy() {
            ctx.request_repaint_after(std::time::Duration::from_millis(50));
        }
    }
}

/// The 3D scene of a photo: the image at its camera (a 50° view from the origin, OpenCV axes),
/// the camera's frustum, axes and a ground grid.
fn photo_scene(image: &Image) -> crate::render::Scene {
    let mut scene = crate::render::Scene::default();
    if let Ok(camera) = crate::core::camera::Camera::from_fov_y(image.width(), image.height(), 50f64.to_radians()) {
        scene.lines.push(crate::geometry::LineSet::frustum(&camera, 2.0, [1.0, 0.85, 0.3, 1.0]));
        scene.photos.push(crate::render::PhotoPlane { image: image.clone(), camera, depth: 2.0 });
    }
    scene.lines.push(crate::geometry::LineSet::axes([0.0; 3], 0.3));
    scene.lines.push(crate::geometry::LineSet::grid([0.0, 1.0, 2.0], 0.25, 16, glam::Vec3::Y, [0.35, 0.35, 0.38, 1.0]));
    scene
}

impl CarveApp {
    /// The 3D viewport (created on first use from eframe's wgpu device).
    fn viewport_ui(&mut self, ui: &mut egui::Ui, frame: &eframe::Frame) {
        let Some(render_state) = frame.wgpu_render_state() else {
            ui.label("3D view unavailable: no wgpu device");
            return;
        };
        let viewport = self.viewport.get_or_insert_with(|| crate::render::egui_view::Viewport3d::new(render_state));
        if let Some((scene, up)) = self.pending_scene.take() {
            viewport.set_scene(render_state, &scene, up);
        }
        viewport.viewport_ui(ui, render_state);
    }
}

impl eframe::App for CarveApp {
    fn ui(&mut self, ui: &mut egui::Ui, frame: &mut eframe::Frame) {
        let dropped: Vec<PathBuf> = ui.ctx().input(|i| {
            i.raw.dropped_files.iter().map(|f| f.path().to_path_buf()).filter(|p| !p.as_os_str().is_empty()).collect()
        });
        if let Some(path) = dropped.first() {
            self.open_path(path);
        }
        self.poll_ui(&ui.ctx().clone());
        egui::Panel::top("top_bar").show(ui, |ui| self.top_bar_ui(ui));
        egui::Panel::bottom("status_bar").show(ui, |ui| self.status_bar_ui(ui));
        egui::Panel::left("masks").default_size(230.0).show(ui, |ui| self.masks_ui(ui));
        egui::CentralPanel::default().show(ui, |ui| match self.view {
            View::Photo => self.canvas_ui(ui),
            View::ThreeD => self.viewport_ui(ui, frame),
            View::Split => {
                let half = ui.available_width() / 2.0;
                ui.horizontal_top(|ui| {
                    let h = ui.available_height();
                    ui.allocate_ui(egui::vec2(half - 4.0, h), |ui| self.canvas_ui(ui));
                    ui.separator();
                    ui.allocate_ui(egui::vec2(ui.available_width(), h), |ui| self.viewport_ui(ui, frame));
                });
            }
        });
    }
}
