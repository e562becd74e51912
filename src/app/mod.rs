//! The egui workbench window: the photo canvas with its masks, the 3D viewport, the mask and body
//! panels, and a status bar with progress and cancel for every background task. State that needs
//! no UI lives in `workbench` (masks) and `bodies` (body rigs); all work happens in the library.

pub mod bodies;
pub mod viewport;
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

/// What a drag on the photo does.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Tool {
    /// Click: new object; right/Shift-click: refine; drag: box prompt.
    Prompt,
    Brush,
    Eraser,
}

/// Frame intervals, split by whether a background task was running.
#[derive(Default)]
struct FrameStats {
    last: Option<std::time::Instant>,
    since_report: Option<std::time::Instant>,
    busy_ms: Vec<f64>,
    idle_ms: Vec<f64>,
    /// Time spent in the app's `ui` per frame.
    ui_ms: Vec<f64>,
}

impl FrameStats {
    fn frame(&mut self, busy: bool, ctx: &egui::Context) {
        let now = std::time::Instant::now();
        if let Some(last) = self.last {
            let ms = (now - last).as_secs_f64() * 1e3;
            if busy { self.busy_ms.push(ms) } else { self.idle_ms.push(ms) }
        }
        self.last = Some(now);
        let since = *self.since_report.get_or_insert(now);
        if (now - since).as_secs_f64() >= 2.0 {
            for (what, v) in [("busy", &mut self.busy_ms), ("idle", &mut self.idle_ms), ("ui", &mut self.ui_ms)] {
                if v.is_empty() {
                    continue;
                }
                v.sort_by(f64::total_cmp);
                eprintln!(
                    "frame-stats {what}: n={} median={:.1}ms p95={:.1}ms max={:.1}ms",
                    v.len(),
                    v[v.len() / 2],
                    v[v.len() * 95 / 100],
                    v[v.len() - 1]
                );
                v.clear();
            }
            self.since_report = Some(now);
        }
        ctx.request_repaint();
    }
}

/// Which list the side panel shows.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum SideTab {
    Masks,
    Bodies,
}

/// The workbench state.
pub struct CarveApp {
    pub side_tab: SideTab,
    pub bodies: bodies::BodyBench,
    /// The body generation the viewport shows, and whether it was framed once.
    body_shown: (u64, bool),
    /// The body drawn over the photo (when placed in a camera), for a body generation.
    body_overlay: Option<(u64, egui::TextureHandle)>,
    pub show_body_overlay: bool,
    /// Where the photo was drawn last frame (screen points), for tests and tools.
    pub photo_rect: Option<egui::Rect>,
    /// The photo's file (`None`: the embedded demo) and the 3D files opened.
    photo_path: Option<PathBuf>,
    scene_files: Vec<PathBuf>,
    /// Where edits are autosaved (`None`: nowhere), and what was saved last.
    pub autosave_path: Option<PathBuf>,
    autosaved: ((u64, u64), std::time::Instant),
    recent: Vec<PathBuf>,
    /// `CARVE_FRAME_STATS=1`: repaint continuously and print frame-interval statistics to stderr
    /// every 2 s (split by whether a background task ran), to measure the window's frame time.
    frame_stats: Option<FrameStats>,
    /// The last lift, and what of it the viewport shows.
    lifted: Option<(String, Box<crate::lift::LiftOutput>)>,
    pub show_splats: bool,
    pub show_voxels: bool,
    pub show_lift_photo: bool,
    photo: Photo,
    status: String,
    error: Option<String>,
    view: View,
    viewport: Option<crate::app::viewport::Viewport3d>,
    /// A 3D scene waiting for the viewport (built before the GPU is known).
    pending_scene: Option<(crate::render::Scene, glam::Vec3, bool)>,
    pub workbench: workbench::Workbench,
    /// Engine picker state, and a model load running in the background.
    pub engine_choice: crate::segment::EngineChoice,
    pub model_folder: String,
    engine_task: Option<crate::core::task::Task<Result<Box<dyn crate::segment::Segmenter>, String>>>,
    /// Messages shown over the window: (text, is_error, when).
    pub toasts: Vec<(String, bool, std::time::Instant)>,
    pub show_help: bool,
    pub tool: Tool,
    /// Canvas zoom (1 = fit) and pan (screen points).
    pub canvas_zoom: f32,
    canvas_pan: egui::Vec2,
    pub brush_radius_px: f32,
    pub text_query: String,
    /// Where a box drag started (screen).
    drag_start: Option<egui::Pos2>,
    /// Hypothesis thumbnails of the selected mask, for a workbench generation.
    thumbnails: (u64, Vec<egui::TextureHandle>),
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
            || Photo { image: crate::core::demo::still_life(), name: crate::core::demo::STILL_LIFE_NAME.to_owned(), texture: None };
        let photo = demo();
        let (segmenter, engine_error) = window_segmenter();
        let workbench = workbench::Workbench::new(photo.image.clone(), segmenter);
        let mut app = Self {
            side_tab: SideTab::Masks,
            bodies: bodies::BodyBench::default(),
            body_shown: (0, false),
            engine_choice: crate::segment::EngineChoice::Auto,
            model_folder: String::new(),
            engine_task: None,
            toasts: Vec::new(),
            show_help: false,
            tool: Tool::Prompt,
            canvas_zoom: 1.0,
            canvas_pan: egui::Vec2::ZERO,
            brush_radius_px: 12.0,
            text_query: String::new(),
            drag_start: None,
            thumbnails: (u64::MAX, Vec::new()),
            body_overlay: None,
            show_body_overlay: true,
            photo_rect: None,
            photo_path: None,
            scene_files: Vec::new(),
            autosave_path: crate::io::project::autosave_path(),
            autosaved: ((0, 0), std::time::Instant::now()),
            recent: crate::io::project::recent_files(),
            frame_stats: std::env::var_os("CARVE_FRAME_STATS").map(|_| FrameStats::default()),
            lifted: None,
            show_splats: true,
            show_voxels: false,
            show_lift_photo: true,
            photo,
            status: String::new(),
            error: engine_error,
            view: View::Split,
            viewport: None,
            pending_scene: None,
            workbench,
            overlays: (u64::MAX, Vec::new()),
        };
        app.pending_scene = Some((photo_scene(&app.photo.image), -glam::Vec3::Y, true));
        if let StartImage::File(path) = start {
            app.open_path(&path);
        }
        app
    }

    /// Opens a dropped or chosen file: a photo, or a 3D file for the viewport.
    fn open_path(&mut self, path: &Path) {
        let ext = path.extension().map(|e| e.to_string_lossy().to_lowercase()).unwrap_or_default();
        if ext == "npz" {
            self.import_body(path);
            self.remember(path);
            return;
        }
        if ext == "carve" {
            self.open_project(path);
            return;
        }
        if matches!(ext.as_str(), "ply" | "glb" | "gltf") {
            let mut scene = crate::render::Scene::default();
            match crate::io::load_3d(path) {
                Ok(loaded) => {
                    let kind = loaded.kind;
                    scene.add(loaded.geometry);
                    self.status = format!("{}: {kind}", path.display());
                    self.scene_files = vec![path.to_owned()];
                    self.remember(path);
                    self.pending_scene = Some((scene, glam::Vec3::Y, true));
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
                self.pending_scene = Some((photo_scene(&image), -glam::Vec3::Y, true));
                let (segmenter, engine_error) = window_segmenter();
                self.workbench = workbench::Workbench::new(image.clone(), segmenter);
                self.overlays = (u64::MAX, Vec::new());
                self.error = engine_error;
                self.photo = Photo { image, name: path.display().to_string(), texture: None };
                self.photo_path = Some(path.to_owned());
                self.canvas_zoom = 1.0;
                self.canvas_pan = egui::Vec2::ZERO;
                self.remember(path);
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
            self.file_menu_ui(ui);
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
            if ui.small_button("?").on_hover_text("help (F1)").clicked() {
                self.show_help = !self.show_help;
            }
            {
                ui.label(if self.status.is_empty() {
                    "Drop a photo, or a .ply/.glb for the 3D view. 3D: drag to orbit, right-drag to pan, wheel to zoom, double-click to frame."
                } else {
                    &self.status
                });
            }
            ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                ui.weak(format!("libtorch {}", crate::model::libtorch_version()));
                if let Some(task) = &self.engine_task {
                    if ui.small_button("cancel").clicked() {
                        task.cancel();
                    }
                    ui.add(egui::ProgressBar::new(task.progress().fraction()).desired_width(120.0).animate(true).text("loading model"));
                }
                if let Some((label, fraction, message)) = self.bodies.progress() {
                    if ui.small_button("cancel").clicked() {
                        self.bodies.cancel();
                    }
                    ui.add(egui::ProgressBar::new(fraction).desired_width(160.0).text(format!("{label}: {message}")));
                }
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
        let fit = (available.x / size.x).min(available.y / size.y).max(0.01);
        let (rect, response) = ui.allocate_exact_size(available, egui::Sense::click_and_drag());
        // Zoom to the cursor with the wheel, pan with a middle drag, F fits.
        if response.hovered() {
            let (scroll, pointer) = ui.input(|i| (i.smooth_scroll_delta.y, i.pointer.hover_pos()));
            if scroll != 0.0
                && let Some(p) = pointer
            {
                let old = self.canvas_zoom;
                self.canvas_zoom = (old * (scroll * 0.003).exp()).clamp(1.0, 40.0);
                // Keep the image point under the cursor where it is.
                let centre = rect.center() + self.canvas_pan;
                self.canvas_pan += (p - centre) * (1.0 - self.canvas_zoom / old);
            }
        }
        if response.dragged_by(egui::PointerButton::Middle) {
            self.canvas_pan += response.drag_delta();
        }
        if self.canvas_zoom <= 1.0 {
            self.canvas_pan = egui::Vec2::ZERO;
        }
        let image_rect = egui::Rect::from_center_size(rect.center() + self.canvas_pan, size * fit * self.canvas_zoom);
        self.photo_rect = Some(image_rect);
        let uv = egui::Rect::from_min_max(egui::pos2(0.0, 0.0), egui::pos2(1.0, 1.0));
        let painter = ui.painter_at(rect);
        painter.image(texture.id(), image_rect, uv, egui::Color32::WHITE);
        if self.show_body_overlay
            && let Some(overlay) = self.body_overlay_texture(ui.ctx())
        {
            painter.image(overlay.id(), image_rect, uv, egui::Color32::WHITE);
        }
        self.overlay_textures(ui.ctx(), texture.size());
        for overlay in self.overlays.1.iter().flatten() {
            painter.image(overlay.id(), image_rect, uv, egui::Color32::WHITE);
        }
        let (w, h) = (self.workbench.image.width() as f32, self.workbench.image.height() as f32);
        let to_image = |pos: egui::Pos2| {
            ((pos.x - image_rect.min.x) / image_rect.width() * w, (pos.y - image_rect.min.y) / image_rect.height() * h)
        };
        match self.tool {
            Tool::Prompt => {
                if response.drag_started_by(egui::PointerButton::Primary) {
                    self.drag_start = response.interact_pointer_pos();
                }
                if let (Some(a), Some(b)) =
                    (self.drag_start, response.interact_pointer_pos().or(ui.input(|i| i.pointer.latest_pos())))
                {
                    ui.painter().rect_stroke(
                        egui::Rect::from_two_pos(a, b),
                        0.0,
                        egui::Stroke::new(1.5, egui::Color32::YELLOW),
                        egui::StrokeKind::Middle,
                    );
                }
                if response.drag_stopped() {
                    if let (Some(a), Some(b)) = (self.drag_start.take(), ui.input(|i| i.pointer.latest_pos())) {
                        let (p, q) = (to_image(a.min(b)), to_image(a.max(b)));
                        let (x0, y0) = (p.0.clamp(0.0, w - 1.0), p.1.clamp(0.0, h - 1.0));
                        let (x1, y1) = (q.0.clamp(0.0, w - 1.0), q.1.clamp(0.0, h - 1.0));
                        if x1 - x0 >= 4.0 && y1 - y0 >= 4.0 {
                            self.workbench.drag_box(crate::core::prompt::BoxPrompt {
                                x0_px: x0,
                                y0_px: y0,
                                x1_px: x1,
                                y1_px: y1,
                            });
                        }
                    }
                    return;
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
                    let (x, y) = to_image(pos);
                    self.workbench.click(x, y, label);
                }
            }
            Tool::Brush | Tool::Eraser => {
                let add = self.tool == Tool::Brush;
                let radius_screen = self.brush_radius_px / w * image_rect.width();
                if let Some(pos) = ui.input(|i| i.pointer.latest_pos()).filter(|p| image_rect.contains(*p)) {
                    let color = if add { egui::Color32::LIGHT_GREEN } else { egui::Color32::LIGHT_RED };
                    ui.painter().circle_stroke(pos, radius_screen, egui::Stroke::new(1.5, color));
                }
                let Some(i) = self.workbench.selected else {
                    if response.clicked() || response.drag_started() {
                        self.error = Some("select a mask to paint on".into());
                    }
                    return;
                };
                if response.drag_started() || response.clicked() {
                    self.workbench.begin_stroke();
                }
                if (response.dragged() || response.clicked())
                    && let Some(pos) = response.interact_pointer_pos()
                {
                    let (x, y) = to_image(pos);
                    self.workbench.paint(i, x, y, self.brush_radius_px, add);
                }
            }
        }
    }

    /// Tools, text prompt, the selected mask's hypotheses.
    fn tools_ui(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            ui.selectable_value(&mut self.tool, Tool::Prompt, "Click / box").on_hover_text("C");
            ui.selectable_value(&mut self.tool, Tool::Brush, "Brush").on_hover_text("R");
            ui.selectable_value(&mut self.tool, Tool::Eraser, "Eraser").on_hover_text("E");
        });
        if self.tool != Tool::Prompt {
            ui.add(egui::Slider::new(&mut self.brush_radius_px, 1.0..=80.0).text("radius px"));
        }
        ui.horizontal(|ui| {
            let r = ui.add(
                egui::TextEdit::singleline(&mut self.text_query).hint_text("find all… (text)").desired_width(150.0),
            );
            let enter = r.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
            if (ui.button("Find").clicked() || enter) && !self.text_query.trim().is_empty() {
                let q = self.text_query.clone();
                self.workbench.text(&q);
            }
        });
    }

    /// Thumbnails of the selected mask's hypotheses (the photo with the mask tinted).
    fn hypotheses_ui(&mut self, ui: &mut egui::Ui) {
        let Some(i) = self.workbench.selected else { return };
        let Some(m) = self.workbench.masks.get(i) else { return };
        if m.hypotheses.len() < 2 {
            return;
        }
        if self.thumbnails.0 != self.workbench.generation {
            let rgb = self.workbench.image.rgb();
            let tw = 96usize;
            let th = (tw as f32 * rgb.height() as f32 / rgb.width() as f32).round().max(1.0) as usize;
            let textures = m
                .hypotheses
                .iter()
                .enumerate()
                .map(|(k, h)| {
                    let pixels: Vec<egui::Color32> = (0..tw * th)
                        .map(|q| {
                            let (x, y) =
                                ((q % tw) as u32 * rgb.width() / tw as u32, (q / tw) as u32 * rgb.height() / th as u32);
                            let p = rgb.get_pixel(x, y).0;
                            if h.mask.get(x, y) {
                                egui::Color32::from_rgb(p[0] / 3 + 170, p[1] / 3 + 60, p[2] / 3 + 40)
                            } else {
                                egui::Color32::from_rgb(p[0] / 2, p[1] / 2, p[2] / 2)
                            }
                        })
                        .collect();
                    ui.ctx().load_texture(
                        format!("hypothesis {k}"),
                        egui::ColorImage::new([tw, th], pixels),
                        egui::TextureOptions::LINEAR,
                    )
                })
                .collect();
            self.thumbnails = (self.workbench.generation, textures);
        }
        ui.label("Hypotheses (click to choose)");
        let mut chosen = None;
        ui.horizontal(|ui| {
            for (k, (t, h)) in self.thumbnails.1.iter().zip(&m.hypotheses).enumerate() {
                ui.vertical(|ui| {
                    let current = h.mask == m.mask;
                    let r = ui.add(egui::Button::image(egui::Image::new(t).max_width(72.0)).selected(current));
                    if r.clicked() {
                        chosen = Some(k);
                    }
                    ui.weak(format!("{:.2}", h.score));
                });
            }
        });
        if let Some(k) = chosen {
            self.workbench.choose_hypothesis(i, k);
        }
    }

    /// Engine and model folder: applied by a background load; a failure keeps the current engine
    /// and every mask.
    fn engine_ui(&mut self, ui: &mut egui::Ui) {
        use crate::segment::EngineChoice;
        ui.horizontal(|ui| {
            ui.label("Engine");
            ui.selectable_value(&mut self.engine_choice, EngineChoice::Auto, "auto");
            ui.selectable_value(&mut self.engine_choice, EngineChoice::Classical, "classical");
            ui.selectable_value(&mut self.engine_choice, EngineChoice::Sam3, "SAM 3");
        });
        ui.horizontal(|ui| {
            ui.add(egui::TextEdit::singleline(&mut self.model_folder).hint_text("model folder").desired_width(130.0));
            if ui.small_button("Browse…").clicked()
                && let Some(dir) = rfd::FileDialog::new().pick_folder()
            {
                self.model_folder = dir.display().to_string();
            }
            if ui.add_enabled(self.engine_task.is_none(), egui::Button::new("Load")).clicked() {
                self.load_engine();
            }
        });
        if let Some(kind) = self.workbench.engine() {
            ui.weak(format!("new masks come from: {}", kind.as_str()));
        }
    }

    /// Loads the chosen engine (and model folder) in the background.
    pub fn load_engine(&mut self) {
        let choice = self.engine_choice;
        let folder = self.model_folder.trim().to_owned();
        self.engine_task = Some(crate::core::task::Task::spawn("loading model", move |_| {
            let models = if folder.is_empty() {
                let env = std::env::var_os("CARVE_MODELS");
                crate::model::search_dirs(None, env.as_deref())
                    .map(|d| crate::model::find_models(&d))
                    .unwrap_or_default()
            } else {
                let f = crate::model::ModelFolder::inspect(Path::new(&folder), crate::model::SearchOrigin::Explicit);
                if !f.valid {
                    return Err(format!("model folder {folder}: {}", f.problems.join("; ")));
                }
                vec![f]
            };
            crate::segment::run::make_segmenter(choice, &models).map_err(|e| e.to_string())
        }));
    }

    /// The help panel: every tool and shortcut.
    fn help_ui(&mut self, ctx: &egui::Context) {
        let mut open = self.show_help;
        egui::Window::new("Help: tools and shortcuts").open(&mut open).resizable(false).show(ctx, |ui| {
            egui::Grid::new("shortcuts").striped(true).show(ui, |ui| {
                for (keys, what) in [
                    ("click (photo)", "segment a new object at the click"),
                    ("drag (photo)", "segment the object in the box"),
                    ("right-click / Shift+click", "refine the selected mask with a negative click"),
                    ("C · R · E", "click/box tool · brush · eraser (drag on the selected mask)"),
                    ("Find (text field)", "every instance of a concept, each its own mask (SAM 3)"),
                    ("Ctrl+Z", "undo the last mask or body edit"),
                    ("Ctrl+Shift+Z", "redo"),
                    ("Delete", "delete the selected mask"),
                    ("L", "lift the selected mask to 3D"),
                    ("B", "Bodies tab · M: Masks tab"),
                    ("1 / 2 / 3", "photo / split / 3D view"),
                    ("photo: wheel · middle-drag · F", "zoom to the cursor · pan · fit"),
                    ("3D: drag · right-drag · wheel", "orbit · pan · zoom"),
                    ("3D: double-click", "frame everything"),
                    ("F1", "this help"),
                    ("drop a file", "photo, .ply, .glb, SAM 3D Body .npz or .carve project"),
                    ("File menu", "projects (.carve), recent files, recover the autosaved session"),
                ] {
                    ui.strong(keys);
                    ui.label(what);
                    ui.end_row();
                }
            });
        });
        self.show_help = open;
    }

    /// Errors and notices as toasts at the bottom right; errors stay until dismissed.
    fn toasts_ui(&mut self, ctx: &egui::Context) {
        if let Some(e) = self.error.take() {
            self.toasts.push((e, true, std::time::Instant::now()));
        }
        self.toasts.retain(|(_, error, born)| *error || born.elapsed().as_secs() < 6);
        if self.toasts.is_empty() {
            return;
        }
        let mut dismiss = None;
        egui::Area::new(egui::Id::unique("toasts")).anchor(egui::Align2::RIGHT_BOTTOM, egui::vec2(-12.0, -36.0)).show(
            ctx,
            |ui| {
                for (i, (text, error, _)) in self.toasts.iter().enumerate() {
                    let fill =
                        if *error { egui::Color32::from_rgb(110, 30, 30) } else { egui::Color32::from_rgb(30, 60, 90) };
                    egui::Frame::popup(ui.style()).fill(fill).show(ui, |ui| {
                        ui.set_max_width(420.0);
                        ui.horizontal(|ui| {
                            ui.colored_label(egui::Color32::WHITE, text);
                            if ui.small_button("dismiss").clicked() {
                                dismiss = Some(i);
                            }
                        });
                    });
                }
            },
        );
        if let Some(i) = dismiss {
            self.toasts.remove(i);
        }
        ctx.request_repaint_after(std::time::Duration::from_millis(500));
    }

    /// The mask list: colour, name, engine and score, visibility, delete; lift the selected one.
    fn masks_ui(&mut self, ui: &mut egui::Ui) {
        self.engine_ui(ui);
        ui.separator();
        self.tools_ui(ui);
        ui.separator();
        ui.heading("Masks");
        ui.weak("click: new object · right-click: refine · Ctrl+Z / Ctrl+Shift+Z: undo / redo");
        ui.separator();
        let mut delete = None;
        let mut visibility = None;
        let mut merge = None;
        for (i, m) in self.workbench.masks.iter().enumerate() {
            ui.horizontal(|ui| {
                let [r, g, b] = m.color;
                let (swatch, _) = ui.allocate_exact_size(egui::vec2(12.0, 12.0), egui::Sense::hover());
                ui.painter().rect_filled(swatch, 2.0, egui::Color32::from_rgb(r, g, b));
                let mut visible = m.visible;
                if ui.checkbox(&mut visible, "show").changed() {
                    visibility = Some((i, visible));
                }
                if ui.selectable_label(self.workbench.selected == Some(i), &m.name).clicked() {
                    self.workbench.selected = Some(i);
                }
                ui.weak(format!("{} {:.2}", m.engine.as_str(), m.score));
                if ui.small_button("delete").clicked() {
                    delete = Some(i);
                }
                if let Some(s) = self.workbench.selected
                    && s != i
                    && ui.small_button("merge").on_hover_text("merge into the selected mask").clicked()
                {
                    merge = Some((s, i));
                }
            });
        }
        if let Some((into, from)) = merge {
            self.workbench.merge(into, from);
        }
        if let Some(i) = self.workbench.selected.filter(|&i| i < self.workbench.masks.len()) {
            ui.horizontal(|ui| {
                let mut name = self.workbench.masks[i].name.clone();
                let label = ui.label("name");
                if ui.add(egui::TextEdit::singleline(&mut name).desired_width(110.0)).labelled_by(label.id).changed() {
                    self.workbench.rename(i, &name);
                }
                if ui.button("Export…").on_hover_text(".png, .json (COCO RLE) or .polygons.json").clicked()
                    && let Some(path) = rfd::FileDialog::new()
                        .add_filter("PNG mask", &["png"])
                        .add_filter("COCO RLE / polygons JSON", &["json"])
                        .set_file_name(format!("{}.png", self.workbench.masks[i].name.replace(' ', "_")))
                        .save_file()
                {
                    match self.workbench.export(i, &path, &self.photo.name) {
                        Ok(()) => self.status = format!("wrote {}", path.display()),
                        Err(e) => self.error = Some(e),
                    }
                }
            });
            self.hypotheses_ui(ui);
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
        self.lift_panel_ui(ui);
    }

    /// Takes finished background work and keyboard shortcuts.
    fn poll_ui(&mut self, ctx: &egui::Context) {
        for finished in self.workbench.poll() {
            match finished {
                workbench::Finished::Lifted { name, output } => {
                    self.status = format!("{name} lifted ({})", output.engine);
                    self.lifted = Some((name, output));
                    self.show_lift(true);
                    if self.view == View::Photo {
                        self.view = View::Split;
                    }
                }
                workbench::Finished::Failed(e) => self.error = Some(e),
            }
        }
        let (undo, redo) = ctx.input(|i| {
            let z = i.key_pressed(egui::Key::Z) && i.modifiers.command;
            (z && !i.modifiers.shift, z && i.modifiers.shift)
        });
        let body_tab = self.side_tab == SideTab::Bodies;
        if undo && !(body_tab && self.bodies.undo()) {
            self.workbench.undo();
        }
        if redo && !(body_tab && self.bodies.redo()) {
            self.workbench.redo();
        }
        for event in self.bodies.poll() {
            match event {
                bodies::BodyEvent::Loaded(name) => self.status = format!("{name} loaded"),
                bodies::BodyEvent::Fitted { iou_hint } => self.status = format!("body fitted ({iou_hint})"),
                bodies::BodyEvent::Failed(e) => self.error = Some(e),
            }
        }
        self.update_body_scene();
        if let Some(task) = &mut self.engine_task
            && let Some(result) = task.try_take()
        {
            self.engine_task = None;
            match result {
                Ok(Ok(segmenter)) => {
                    let kind = segmenter.engine();
                    self.workbench.set_segmenter(segmenter);
                    self.toasts.push((format!("engine: {}", kind.as_str()), false, std::time::Instant::now()));
                }
                Ok(Err(e)) => self.error = Some(format!("model not loaded, the current engine stays: {e}")),
                Err(e) => self.error = Some(e.to_string()),
            }
        }
        let typing = ctx.egui_wants_keyboard_input();
        let (tool_c, tool_r, tool_e) = ctx.input(|i| {
            let plain = !i.modifiers.command && !i.modifiers.alt && !typing;
            (
                plain && i.key_pressed(egui::Key::C),
                plain && i.key_pressed(egui::Key::R),
                plain && i.key_pressed(egui::Key::E),
            )
        });
        for (pressed, tool) in [(tool_c, Tool::Prompt), (tool_r, Tool::Brush), (tool_e, Tool::Eraser)] {
            if pressed {
                self.tool = tool;
            }
        }
        let (help, delete, lift, tab_b, tab_m, v1, v2, v3) = ctx.input(|i| {
            let plain = !i.modifiers.command && !i.modifiers.alt && !typing;
            let k = |key| plain && i.key_pressed(key);
            (
                i.key_pressed(egui::Key::F1),
                k(egui::Key::Delete),
                k(egui::Key::L),
                k(egui::Key::B),
                k(egui::Key::M),
                k(egui::Key::Num1),
                k(egui::Key::Num2),
                k(egui::Key::Num3),
            )
        });
        if help {
            self.show_help = !self.show_help;
        }
        if delete && let Some(i) = self.workbench.selected {
            self.workbench.delete(i);
        }
        if lift
            && self.workbench.selected.is_some()
            && !self.workbench.busy()
            && let Err(e) = self.workbench.lift_selected()
        {
            self.error = Some(e);
        }
        if tab_b {
            self.side_tab = SideTab::Bodies;
        }
        if tab_m {
            self.side_tab = SideTab::Masks;
        }
        for (pressed, view) in [(v1, View::Photo), (v2, View::Split), (v3, View::ThreeD)] {
            if pressed {
                self.view = view;
            }
        }
        if self.workbench.busy() || self.bodies.busy() || self.engine_task.is_some() {
            ctx.request_repaint_after(std::time::Duration::from_millis(50));
        }
    }
}

impl CarveApp {
    /// Sends the body to the viewport when it changed (framing it the first time).
    fn update_body_scene(&mut self) {
        if self.bodies.generation == self.body_shown.0 || self.bodies.body.is_none() {
            return;
        }
        let reframe = !self.body_shown.1;
        self.body_shown = (self.bodies.generation, true);
        let Some((mesh, skeleton, down)) = self.bodies.scene_mesh() else { return };
        let mut scene = crate::render::Scene::default();
        if down {
            // Placed in a camera: show the photo where that camera saw it, behind the body.
            if let Some(k) = self.bodies.camera() {
                let depth = mesh.bounds().map(|b| b.max.z as f64 * 1.05).unwrap_or(5.0);
                let camera = crate::core::camera::Camera::new(
                    k.0,
                    k.1,
                    k.2.focal_px,
                    k.2.focal_px,
                    k.2.cx,
                    k.2.cy,
                    glam::DMat4::IDENTITY,
                );
                if let Ok(camera) = camera {
                    scene.lines.push(crate::core::geometry::LineSet::frustum(&camera, depth, [1.0, 0.85, 0.3, 1.0]));
                    if (k.0, k.1) == (self.photo.image.width(), self.photo.image.height()) {
                        scene.photos.push(crate::render::PhotoPlane { image: self.photo.image.clone(), camera, depth });
                    }
                }
            }
        } else {
            scene.lines.push(crate::core::geometry::LineSet::grid(
                [0.0; 3],
                0.25,
                12,
                glam::Vec3::Y,
                [0.35, 0.35, 0.38, 1.0],
            ));
        }
        scene.meshes.push(mesh);
        scene.lines.extend(skeleton);
        let up = if down { -glam::Vec3::Y } else { glam::Vec3::Y };
        self.pending_scene = Some((scene, up, reframe));
        if self.view == View::Photo {
            self.view = View::Split;
        }
    }

    /// The body over the photo, as a texture (rebuilt when the body changes).
    fn body_overlay_texture(&mut self, ctx: &egui::Context) -> Option<egui::TextureHandle> {
        self.bodies.body.as_ref()?;
        if let Some((g, t)) = &self.body_overlay
            && *g == self.bodies.generation
        {
            return Some(t.clone());
        }
        let k = self.bodies.camera()?;
        if (k.0, k.1) != (self.photo.image.width(), self.photo.image.height()) {
            return None;
        }
        let drawn = self.bodies.overlay(self.photo.image.rgb())?;
        let color = egui::ColorImage::from_rgb([drawn.width() as usize, drawn.height() as usize], drawn.as_raw());
        let t = ctx.load_texture("body overlay", color, egui::TextureOptions::LINEAR);
        self.body_overlay = Some((self.bodies.generation, t.clone()));
        Some(t)
    }

    /// The Bodies tab: demo body, import, fit, LOD, sliders, toggles, export.
    fn bodies_ui(&mut self, ui: &mut egui::Ui) {
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
            && matches!(self.bodies.body, Some(bodies::Body::Rig { .. }))
            && self.workbench.selected.is_some();
        if ui
            .add_enabled(can_fit, egui::Button::new("Fit to selected mask"))
            .on_disabled_hover_text("load the demo body and select a person's mask")
            .clicked()
            && let Some(i) = self.workbench.selected
            && let Some(m) = self.workbench.masks.get(i)
            && let Err(e) = self.bodies.fit(&m.mask.clone())
        {
            self.error = Some(e);
        }
        let Some(counts) = self.bodies.counts() else {
            ui.weak("No body yet: load the demo body, import a SAM 3D Body .npz (or drop it on the window).");
            return;
        };
        ui.separator();
        ui.label("Level of detail");
        ui.horizontal_wrapped(|ui| {
            for lod in 0..7 {
                if ui.selectable_label(self.bodies.lod == lod, format!("LOD {lod}")).clicked()
                    && let Err(e) = self.bodies.set_lod(lod)
                {
                    self.error = Some(e.to_string());
                }
            }
        });
        ui.label(format!("LOD {}: {} vertices · {} triangles", self.bodies.lod, counts.0, counts.1));
        ui.horizontal(|ui| {
            if ui.checkbox(&mut self.bodies.show_skeleton, "skeleton").changed() {
                self.bodies.edited();
            }
            if let Some(v) = &mut self.viewport {
                ui.checkbox(&mut v.settings.wireframe, "wireframe");
            }
            ui.checkbox(&mut self.show_body_overlay, "on photo");
        });
        if ui.button("Export GLB…").clicked()
            && let Some(path) =
                rfd::FileDialog::new().add_filter("glTF binary", &["glb"]).set_file_name("body.glb").save_file()
        {
            match self.bodies.export_glb(&path) {
                Ok(()) => self.status = format!("wrote {}", path.display()),
                Err(e) => self.error = Some(e.to_string()),
            }
        }
        self.body_sliders_ui(ui);
    }

    /// Sliders for identity, expression, scale, root and per-joint pose parameters.
    fn body_sliders_ui(&mut self, ui: &mut egui::Ui) {
        let Some(bodies::Body::Rig { rig, params, .. }) = &mut self.bodies.body else { return };
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
            std::mem::swap(&mut before, params);
            self.bodies.begin_edit();
            if let Some(bodies::Body::Rig { params, .. }) = &mut self.bodies.body {
                *params = before;
            }
        }
        if changed {
            self.bodies.edited();
        }
    }

    /// Imports a SAM 3D Body output into the Bodies tab.
    fn import_body(&mut self, path: &Path) {
        match self.bodies.import(path) {
            Ok(()) => {
                self.side_tab = SideTab::Bodies;
                self.body_shown.1 = false;
                self.status = format!("{}: SAM 3D Body output imported", path.display());
            }
            Err(e) => self.error = Some(e.to_string()),
        }
    }
}

impl CarveApp {
    /// Sends the last lift to the viewport with the chosen layers.
    fn show_lift(&mut self, reframe: bool) {
        let Some((_, output)) = &self.lifted else { return };
        let mut scene = crate::render::Scene::default();
        let depth = output.grid.layout.translation[2] + output.grid.layout.scale;
        if self.show_lift_photo {
            scene.photos.push(crate::render::PhotoPlane {
                image: (*self.workbench.image).clone(),
                camera: output.camera,
                depth,
            });
        }
        scene.lines.push(crate::core::geometry::LineSet::frustum(&output.camera, depth, [1.0, 0.85, 0.3, 1.0]));
        if self.show_splats {
            scene.splats.push(output.splats.clone());
        }
        if self.show_voxels {
            scene.meshes.push(output.mesh.clone());
        }
        self.pending_scene = Some((scene, -glam::Vec3::Y, reframe));
    }

    /// The lifted object's layers and exports.
    fn lift_panel_ui(&mut self, ui: &mut egui::Ui) {
        let Some((name, output)) = &self.lifted else { return };
        ui.separator();
        ui.label(format!("3D: {name} ({} splats)", output.splats.len()));
        let mut changed = false;
        ui.horizontal(|ui| {
            changed |= ui.checkbox(&mut self.show_splats, "splats").changed();
            changed |= ui.checkbox(&mut self.show_voxels, "voxels").changed();
            changed |= ui.checkbox(&mut self.show_lift_photo, "photo").changed();
        });
        let stem = name.replace(' ', "_");
        ui.horizontal(|ui| {
            if ui.button("Export PLY…").on_hover_text("3D Gaussian splats").clicked()
                && let Some(p) =
                    rfd::FileDialog::new().add_filter("PLY", &["ply"]).set_file_name(format!("{stem}.ply")).save_file()
                && let Some((_, o)) = &self.lifted
            {
                match crate::io::ply::write_splats_ply(&p, &o.splats) {
                    Ok(()) => self.status = format!("wrote {}", p.display()),
                    Err(e) => self.error = Some(e.to_string()),
                }
            }
            if ui.button("Export GLB…").on_hover_text("the voxel surface mesh").clicked()
                && let Some(p) = rfd::FileDialog::new()
                    .add_filter("glTF binary", &["glb"])
                    .set_file_name(format!("{stem}.glb"))
                    .save_file()
                && let Some((_, o)) = &self.lifted
            {
                match crate::io::gltf::write_glb(&p, &o.mesh) {
                    Ok(()) => self.status = format!("wrote {}", p.display()),
                    Err(e) => self.error = Some(e.to_string()),
                }
            }
        });
        if changed {
            self.show_lift(false);
        }
    }

    fn remember(&mut self, path: &Path) {
        crate::io::project::add_recent(path);
        self.recent = crate::io::project::recent_files();
        if self.recent.is_empty() {
            self.recent.push(path.to_owned());
        }
    }

    /// The open work as a project.
    pub fn project(&self) -> crate::io::project::Project {
        let mut p = crate::io::project::Project::new(self.photo_path.clone());
        p.masks = self.workbench.project_masks();
        p.selected = self.workbench.selected;
        p.scene_files = self.scene_files.clone();
        p.body = self.bodies.to_project();
        p
    }

    pub fn save_project(&mut self, path: &Path) {
        match self.project().save(path) {
            Ok(()) => {
                self.status = format!("saved {}", path.display());
                self.remember(path);
            }
            Err(e) => self.error = Some(e.to_string()),
        }
    }

    /// Opens a project: its photo, masks, 3D files and body. Nothing open is lost on failure.
    pub fn open_project(&mut self, path: &Path) {
        let project = match crate::io::project::Project::load(path) {
            Ok(p) => p,
            Err(e) => {
                self.error = Some(e.to_string());
                return;
            }
        };
        let image = match &project.image {
            None => Ok(crate::core::demo::still_life()),
            Some(p) => Image::load(p).map_err(|e| e.to_string()),
        };
        let image = match image {
            Ok(i) => i,
            Err(e) => {
                self.error = Some(format!("{}: its photo cannot be opened: {e}", path.display()));
                return;
            }
        };
        let (segmenter, _) = window_segmenter();
        let mut workbench = workbench::Workbench::new(image.clone(), segmenter);
        if let Err(e) = workbench.restore(&project.masks, project.selected) {
            self.error = Some(format!("{}: {e}", path.display()));
            return;
        }
        self.workbench = workbench;
        self.overlays = (u64::MAX, Vec::new());
        self.pending_scene = Some((photo_scene(&image), -glam::Vec3::Y, true));
        self.photo = Photo {
            name: project.image.as_ref().map_or(crate::core::demo::STILL_LIFE_NAME.to_owned(), |p| p.display().to_string()),
            image,
            texture: None,
        };
        self.photo_path = project.image.clone();
        self.scene_files.clear();
        for f in &project.scene_files {
            self.open_path(f);
        }
        self.bodies = bodies::BodyBench::default();
        self.body_shown = (0, false);
        self.body_overlay = None;
        if let Some(b) = &project.body
            && let Err(e) = self.bodies.restore(b)
        {
            self.error = Some(format!("{}: body not restored: {e}", path.display()));
        }
        self.status = format!("opened {}", path.display());
        self.remember(path);
    }

    /// Writes the autosave after edits (at most every 1.5 s).
    fn autosave(&mut self) {
        let key = (self.workbench.generation, self.bodies.generation);
        if key == self.autosaved.0 || self.autosaved.1.elapsed().as_secs_f32() < 1.5 {
            return;
        }
        self.autosaved = (key, std::time::Instant::now());
        let Some(path) = self.autosave_path.clone() else { return };
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        if let Err(e) = self.project().save(&path) {
            self.status = format!("autosave failed: {e}");
        }
    }

    /// The File menu.
    fn file_menu_ui(&mut self, ui: &mut egui::Ui) {
        ui.menu_button("File", |ui| {
            if ui.button("Open photo, 3D file or body…").clicked() {
                ui.close();
                if let Some(p) = rfd::FileDialog::new()
                    .add_filter(
                        "supported",
                        &["jpg", "jpeg", "png", "webp", "tif", "tiff", "bmp", "ply", "glb", "gltf", "npz", "carve"],
                    )
                    .pick_file()
                {
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
            let recover = self.autosave_path.clone().filter(|p| p.exists());
            if ui.add_enabled(recover.is_some(), egui::Button::new("Recover last session")).clicked() {
                ui.close();
                if let Some(p) = recover {
                    self.open_project(&p);
                }
            }
            ui.menu_button("Recent", |ui| {
                if self.recent.is_empty() {
                    ui.weak("nothing yet");
                }
                for p in self.recent.clone() {
                    if ui.button(p.display().to_string()).clicked() {
                        ui.close();
                        self.open_path(&p);
                    }
                }
            });
        });
    }

    fn export_all_masks(&mut self, path: &Path) {
        let masks: Vec<crate::io::mask_export::ExportMask<'_>> = self
            .workbench
            .masks
            .iter()
            .map(|m| crate::io::mask_export::ExportMask {
                mask: &m.mask,
                score: m.score,
                label: m.label.as_deref(),
                engine: m.engine.as_str(),
            })
            .collect();
        let image = crate::io::mask_export::ExportImage {
            file_name: &self.photo.name,
            width: self.workbench.image.width(),
            height: self.workbench.image.height(),
            masks,
        };
        match crate::io::mask_export::write_coco(path, &[image]) {
            Ok(()) => self.status = format!("wrote {}", path.display()),
            Err(e) => self.error = Some(e.to_string()),
        }
    }
}

/// The 3D scene of a photo: the image at its camera (a 50° view from the origin, OpenCV axes),
/// the camera's frustum, axes and a ground grid.
fn photo_scene(image: &Image) -> crate::render::Scene {
    let mut scene = crate::render::Scene::default();
    if let Ok(camera) = crate::core::camera::Camera::from_fov_y(image.width(), image.height(), 50f64.to_radians()) {
        scene.lines.push(crate::core::geometry::LineSet::frustum(&camera, 2.0, [1.0, 0.85, 0.3, 1.0]));
        scene.photos.push(crate::render::PhotoPlane { image: image.clone(), camera, depth: 2.0 });
    }
    scene.lines.push(crate::core::geometry::LineSet::axes([0.0; 3], 0.3));
    scene.lines.push(crate::core::geometry::LineSet::grid([0.0, 1.0, 2.0], 0.25, 16, glam::Vec3::Y, [0.35, 0.35, 0.38, 1.0]));
    scene
}

impl CarveApp {
    /// The 3D viewport (created on first use from eframe's wgpu device).
    fn viewport_ui(&mut self, ui: &mut egui::Ui, frame: &eframe::Frame) {
        let Some(render_state) = frame.wgpu_render_state() else {
            ui.label("3D view unavailable: no wgpu device");
            return;
        };
        let viewport = self.viewport.get_or_insert_with(|| crate::app::viewport::Viewport3d::new(render_state));
        if let Some((scene, up, reframe)) = self.pending_scene.take() {
            viewport.set_scene(render_state, &scene, up, reframe);
        }
        viewport.viewport_ui(ui, render_state);
    }
}

impl eframe::App for CarveApp {
    fn ui(&mut self, ui: &mut egui::Ui, frame: &mut eframe::Frame) {
        let ui_start = std::time::Instant::now();
        self.app_ui(ui, frame);
        if let Some(stats) = &mut self.frame_stats {
            stats.ui_ms.push(ui_start.elapsed().as_secs_f64() * 1e3);
        }
    }
}

impl CarveApp {
    fn app_ui(&mut self, ui: &mut egui::Ui, frame: &mut eframe::Frame) {
        let dropped: Vec<PathBuf> = ui.ctx().input(|i| {
            i.raw.dropped_files.iter().map(|f| f.path().to_path_buf()).filter(|p| !p.as_os_str().is_empty()).collect()
        });
        if let Some(path) = dropped.first() {
            self.open_path(path);
        }
        self.poll_ui(&ui.ctx().clone());
        let busy = self.workbench.busy() || self.bodies.busy() || self.engine_task.is_some();
        if let Some(stats) = &mut self.frame_stats {
            stats.frame(busy, &ui.ctx().clone());
        }
        self.autosave();
        self.toasts_ui(&ui.ctx().clone());
        self.help_ui(&ui.ctx().clone());
        egui::Panel::top("top_bar").show(ui, |ui| self.top_bar_ui(ui));
        egui::Panel::bottom("status_bar").show(ui, |ui| self.status_bar_ui(ui));
        egui::Panel::left("side").default_size(250.0).show(ui, |ui| {
            ui.horizontal(|ui| {
                ui.selectable_value(&mut self.side_tab, SideTab::Masks, "Masks");
                ui.selectable_value(&mut self.side_tab, SideTab::Bodies, "Bodies");
            });
            ui.separator();
            egui::ScrollArea::vertical().show(ui, |ui| match self.side_tab {
                SideTab::Masks => self.masks_ui(ui),
                SideTab::Bodies => self.bodies_ui(ui),
            });
        });
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
