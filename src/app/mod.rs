//! The egui workbench window. For now: the photo viewer that opens the embedded demo (or a photo
//! dropped on the window / given on the command line). The segmentation tools, 3D viewport and
//! body panels plug in here as their issues land; all work happens in the library.

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
}

impl CarveApp {
    pub fn new(start: StartImage) -> Self {
        let demo =
            || Photo { image: crate::demo::still_life(), name: crate::demo::STILL_LIFE_NAME.to_owned(), texture: None };
        let mut app = Self {
            photo: demo(),
            status: String::new(),
            error: None,
            view: View::Split,
            viewport: None,
            pending_scene: None,
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
                self.photo = Photo { image, name: path.display().to_string(), texture: None };
                self.error = None;
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
            });
        });
    }

    /// The photo, fitted to the available space.
    fn canvas_ui(&mut self, ui: &mut egui::Ui) {
        let texture = self.texture(ui.ctx());
        let available = ui.available_size();
        let size = texture.size_vec2();
        let scale = (available.x / size.x).min(available.y / size.y).max(0.01);
        ui.centered_and_justified(|ui| {
            ui.add(egui::Image::new((texture.id(), size * scale)));
        });
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
        egui::Panel::top("top_bar").show(ui, |ui| self.top_bar_ui(ui));
        egui::Panel::bottom("status_bar").show(ui, |ui| self.status_bar_ui(ui));
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
