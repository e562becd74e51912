//! The egui workbench window: the photo canvas with its masks, the 3D viewport, the mask and body
//! panels, and a status bar with progress and cancel for every background task. State that needs
//! no UI lives in `workbench` (masks) and `bodies` (body rigs); all work happens in the library.
//!
//! One file per panel or concern, as in egui's demo:
//! - `canvas`: the photo with zoom, pan, overlays and the click/box/brush tools;
//! - `masks_panel`, `bodies_panel`, `lift_panel`: the side panel's tabs and the lifted object;
//! - `status_bar` (and the top bar), `file_menu`, `help`, `toasts` (and [`CarveApp`]'s one
//!   `report` path for outcomes), `shortcuts` (the one table of keys);
//! - `tasks`: background work reaching the window each frame, before anything is drawn;
//! - `folder` (a folder labelled as a dataset; no UI) and `folder_panel` (its tab, moving between
//!   photos);
//! - `session` (files, projects, autosave, recent files), `photo`, `engine` (the segmentation
//!   engine picker), `viewport` (the 3D pane), `history` (undo/redo), `cache`, `frame_stats`.
//!
//! This file holds the window's state and the frame's layout.

pub mod bodies;
mod bodies_panel;
mod cache;
mod canvas;
mod engine;
mod file_menu;
pub mod folder;
mod folder_panel;
mod frame_stats;
mod help;
pub mod history;
mod lift_panel;
mod masks_panel;
mod photo;
mod session;
mod shortcuts;
mod status_bar;
mod tasks;
mod toasts;
pub mod viewport;
pub mod workbench;

use std::path::PathBuf;

pub use engine::EngineError;
pub use tasks::TaskProgress;
pub use toasts::Toast;

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

/// What the central area shows.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
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

/// Which list the side panel shows.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum SideTab {
    Masks,
    Bodies,
    /// A folder labelled as a dataset.
    Folder,
}

/// The workbench window's state.
pub struct CarveApp {
    /// The photo's masks, and segmentation and lifts running in the background.
    pub workbench: workbench::Workbench,
    /// The body rig or imported body.
    pub bodies: bodies::BodyBench,
    side_tab: SideTab,
    view: View,
    photo: photo::Photo,
    canvas: canvas::CanvasState,
    masks_panel: masks_panel::MasksPanelState,
    engine: engine::EngineState,
    /// The last lift (one object or a scene) and its layers (public for the window tests).
    pub lift: lift_panel::LiftView,
    body_view: bodies_panel::BodyView,
    session: session::Session,
    /// The folder being labelled, if one is open.
    folder: Option<folder::Folder>,
    folder_panel: folder_panel::FolderPanelState,
    viewport: viewport::ViewportPane,
    /// The status line (empty: a hint).
    status: String,
    toasts: toasts::Toasts,
    show_help: bool,
    /// `CARVE_FRAME_STATS=1`: frame-time statistics on stderr.
    frame_stats: Option<frame_stats::FrameStats>,
}

impl CarveApp {
    pub fn new(start: StartImage) -> Self {
        let photo = photo::Photo::demo();
        let (segmenter, engine_error) = engine::window_segmenter();
        let workbench = workbench::Workbench::new(photo.image.clone(), segmenter);
        let mut app = Self {
            workbench,
            bodies: bodies::BodyBench::default(),
            side_tab: SideTab::Masks,
            view: View::Split,
            photo,
            canvas: canvas::CanvasState::default(),
            masks_panel: masks_panel::MasksPanelState::default(),
            engine: engine::EngineState::default(),
            lift: lift_panel::LiftView::default(),
            body_view: bodies_panel::BodyView::default(),
            session: session::Session::from_user_data(),
            folder: None,
            folder_panel: folder_panel::FolderPanelState::default(),
            viewport: viewport::ViewportPane::default(),
            status: String::new(),
            toasts: toasts::Toasts::default(),
            show_help: false,
            frame_stats: frame_stats::FrameStats::from_env(),
        };
        if let Some(e) = engine_error {
            app.show_error(e);
        }
        app.viewport.show(photo::photo_scene(&app.photo.image), -glam::Vec3::Y, true);
        if let StartImage::File(path) = start {
            app.open_path(&path);
        }
        app
    }

    pub fn side_tab(&self) -> SideTab {
        self.side_tab
    }

    pub fn tool(&self) -> Tool {
        self.canvas.tool
    }

    /// Where the photo was drawn last frame (screen points).
    pub fn photo_rect(&self) -> Option<egui::Rect> {
        self.canvas.photo_rect
    }

    /// The messages on screen, oldest first.
    pub fn toasts(&self) -> &[Toast] {
        self.toasts.as_slice()
    }

    /// The model folder the engine picker loads from (empty: the search path).
    pub fn set_model_folder(&mut self, folder: impl Into<String>) {
        self.engine.model_folder = folder.into();
    }

    /// Loads the engine picker's choice in the background.
    pub fn load_engine(&mut self) {
        self.engine.load();
    }

    /// Where edits are autosaved (`None`: nowhere).
    pub fn set_autosave_path(&mut self, path: Option<PathBuf>) {
        self.session.set_autosave_path(path);
    }

    /// One frame: files dropped, background work and shortcuts first, then the panels.
    fn app_ui(&mut self, ui: &mut egui::Ui, frame: &mut eframe::Frame) {
        let ctx = ui.ctx().clone();
        let dropped: Vec<PathBuf> = ctx.input(|i| {
            i.raw.dropped_files.iter().map(|f| f.path().to_path_buf()).filter(|p| !p.as_os_str().is_empty()).collect()
        });
        if let Some(path) = dropped.first() {
            self.open_path(path);
        }
        self.poll_tasks();
        self.shortcuts(&ctx);
        self.poll_folder(&ctx);
        self.update_body_scene();
        if self.busy() {
            ctx.request_repaint_after(std::time::Duration::from_millis(50));
        }
        let busy = self.busy();
        if let Some(stats) = &mut self.frame_stats {
            stats.frame(busy, &ctx);
        }
        self.autosave();
        self.toasts.toasts_ui(&ctx);
        self.help_ui(&ctx);
        egui::Panel::top("top_bar").show(ui, |ui| self.top_bar_ui(ui));
        egui::Panel::bottom("status_bar").show(ui, |ui| self.status_bar_ui(ui));
        egui::Panel::left("side").default_size(250.0).show(ui, |ui| {
            ui.horizontal(|ui| {
                ui.selectable_value(&mut self.side_tab, SideTab::Masks, "Masks");
                ui.selectable_value(&mut self.side_tab, SideTab::Bodies, "Bodies");
                ui.selectable_value(&mut self.side_tab, SideTab::Folder, "Folder");
            });
            ui.separator();
            egui::ScrollArea::vertical().show(ui, |ui| match self.side_tab {
                SideTab::Masks => self.masks_ui(ui),
                SideTab::Bodies => self.bodies_ui(ui),
                SideTab::Folder => self.folder_ui(ui),
            });
        });
        egui::CentralPanel::default().show(ui, |ui| match self.view {
            View::Photo => self.canvas_ui(ui),
            View::ThreeD => self.viewport.pane_ui(ui, frame),
            View::Split => {
                let half = ui.available_width() / 2.0;
                ui.horizontal_top(|ui| {
                    let h = ui.available_height();
                    ui.allocate_ui(egui::vec2(half - 4.0, h), |ui| self.canvas_ui(ui));
                    ui.separator();
                    ui.allocate_ui(egui::vec2(ui.available_width(), h), |ui| self.viewport.pane_ui(ui, frame));
                });
            }
        });
    }
}

impl eframe::App for CarveApp {
    fn ui(&mut self, ui: &mut egui::Ui, frame: &mut eframe::Frame) {
        let ui_start = std::time::Instant::now();
        self.app_ui(ui, frame);
        if let Some(stats) = &mut self.frame_stats {
            stats.ui_time(ui_start);
        }
    }
}
