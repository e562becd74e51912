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
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("Carve")
            .with_app_id("carve")
            .with_inner_size([1280.0, 820.0]),
        ..Default::default()
    };
    eframe::run_native("Carve", options, Box::new(move |_cc| Ok(Box::new(CarveApp::new(start)))))
        .map_err(|e| AppError::Window(e.to_string()))
}

/// The photo on screen: the decoded image, where it came from, and its GPU texture.
struct Photo {
    image: Image,
    name: String,
    texture: Option<egui::TextureHandle>,
}

/// The workbench state.
pub struct CarveApp {
    photo: Photo,
    status: String,
    error: Option<String>,
}

impl CarveApp {
    pub fn new(start: StartImage) -> Self {
        let demo =
            || Photo { image: crate::demo::still_life(), name: crate::demo::STILL_LIFE_NAME.to_owned(), texture: None };
        let mut app = Self { photo: demo(), status: String::new(), error: None };
        if let StartImage::File(path) = start {
            app.open_image(&path);
        }
        app
    }

    fn open_image(&mut self, path: &Path) {
        match Image::load(path) {
            Ok(image) => {
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
                ui.label(if self.status.is_empty() { "Drop a photo on the window to open it." } else { &self.status });
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

impl eframe::App for CarveApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        let dropped: Vec<PathBuf> = ui.ctx().input(|i| {
            i.raw.dropped_files.iter().map(|f| f.path().to_path_buf()).filter(|p| !p.as_os_str().is_empty()).collect()
        });
        if let Some(path) = dropped.first() {
            self.open_image(path);
        }
        egui::Panel::top("top_bar").show(ui, |ui| self.top_bar_ui(ui));
        egui::Panel::bottom("status_bar").show(ui, |ui| self.status_bar_ui(ui));
        egui::CentralPanel::default().show(ui, |ui| self.canvas_ui(ui));
    }
}
