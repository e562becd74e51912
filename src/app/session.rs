//! Files in and out of the window: opening photos, 3D files, SAM 3D Body outputs and projects
//! (nothing open is lost when one fails), saving projects, the autosave after edits, and the
//! recent-files list.

use std::path::{Path, PathBuf};
use std::time::Instant;

use super::engine::window_segmenter;
use super::photo::{Photo, photo_scene};
use super::workbench::Workbench;
use super::{CarveApp, View};
use crate::core::image::Image;
use crate::io::project::Project;

/// How often the autosave may write, at most.
const AUTOSAVE_INTERVAL_S: f32 = 1.5;

/// The generations of the masks and the body: the autosave writes when they move.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct EditGenerations {
    masks: u64,
    bodies: u64,
}

/// Where edits are autosaved, and what was saved last.
struct Autosave {
    /// `None`: nowhere.
    path: Option<PathBuf>,
    saved: EditGenerations,
    saved_at: Instant,
}

/// What the window has open besides the photo, and its files.
pub struct Session {
    /// The 3D files shown (saved in projects).
    pub scene_files: Vec<PathBuf>,
    autosave: Autosave,
    /// Recently opened files, most recent first.
    pub recent: Vec<PathBuf>,
}

impl Session {
    /// The user's autosave file and recent-files list.
    pub fn from_user_data() -> Self {
        Self {
            scene_files: Vec::new(),
            autosave: Autosave {
                path: crate::io::project::autosave_path(),
                saved: EditGenerations::default(),
                saved_at: Instant::now(),
            },
            recent: crate::io::project::recent_files(),
        }
    }

    pub fn autosave_path(&self) -> Option<&Path> {
        self.autosave.path.as_deref()
    }

    pub fn set_autosave_path(&mut self, path: Option<PathBuf>) {
        self.autosave.path = path;
    }
}

impl CarveApp {
    /// Opens a dropped or chosen file: a photo, a 3D file for the viewport, a SAM 3D Body output
    /// or a project.
    pub(super) fn open_path(&mut self, path: &Path) {
        if path.is_dir() {
            self.open_folder(path);
            return;
        }
        let ext = path.extension().map(|e| e.to_string_lossy().to_lowercase()).unwrap_or_default();
        match ext.as_str() {
            "npz" => {
                self.import_body(path);
                self.remember(path);
            }
            "carve" => self.open_project(path),
            "ply" | "glb" | "gltf" => self.open_3d(path),
            _ => self.open_image(path),
        }
    }

    /// Shows a 3D file in the viewport.
    fn open_3d(&mut self, path: &Path) {
        let loaded = crate::io::load_3d(path);
        let Some(loaded) = self.report(loaded, |l| format!("{}: {}", path.display(), l.kind)) else { return };
        let mut scene = crate::render::Scene::default();
        scene.add(loaded.geometry);
        self.session.scene_files = vec![path.to_owned()];
        self.remember(path);
        self.viewport.show(scene, glam::Vec3::Y, true);
        if self.view == View::Photo {
            self.view = View::Split;
        }
    }

    /// Opens a photo with a fresh workbench. The current photo stays when the file is bad: a bad
    /// file never loses what the user has open.
    fn open_image(&mut self, path: &Path) {
        let Some(image) = self.check(Image::load(path)) else { return };
        self.close_folder();
        self.viewport.show(photo_scene(&image), -glam::Vec3::Y, true);
        let (segmenter, engine_error) = window_segmenter();
        self.workbench = Workbench::new(image.clone(), segmenter);
        self.canvas.overlays.invalidate();
        // The last lift belonged to the previous photo.
        (self.lift.lifted, self.lift.scene) = (None, None);
        if let Some(e) = engine_error {
            self.show_error(e);
        }
        self.photo = Photo::new(image, Some(path.to_owned()));
        self.canvas.fit();
        self.remember(path);
    }

    /// Puts `path` first in the recent-files list.
    fn remember(&mut self, path: &Path) {
        crate::io::project::add_recent(path);
        self.session.recent = crate::io::project::recent_files();
        if self.session.recent.is_empty() {
            self.session.recent.push(path.to_owned());
        }
    }

    /// The open work as a project.
    pub fn project(&self) -> Project {
        let mut p = Project::new(self.photo.path.clone());
        p.masks = self.workbench.project_masks();
        p.selected = self.workbench.selected;
        p.scene_files = self.session.scene_files.clone();
        p.body = self.bodies.to_project();
        p
    }

    pub fn save_project(&mut self, path: &Path) {
        let saved = self.project().save(path);
        if self.report(saved, |_| format!("saved {}", path.display())).is_some() {
            self.remember(path);
        }
    }

    /// Opens a project: its photo, masks, 3D files and body. Nothing open is lost on failure.
    pub fn open_project(&mut self, path: &Path) {
        let Some(project) = self.check(Project::load(path)) else { return };
        let image = match &project.image {
            None => Ok(crate::core::demo::still_life()),
            Some(p) => Image::load(p),
        };
        let image = image.map_err(|e| format!("{}: its photo cannot be opened: {e}", path.display()));
        let Some(image) = self.check(image) else { return };
        self.close_folder();
        let (segmenter, engine_error) = window_segmenter();
        if let Some(e) = engine_error {
            // Deliberately no toast (the window said so when it started): the project opens with
            // the classical engine.
            tracing::warn!("opening {}: {e}", path.display());
        }
        let mut workbench = Workbench::new(image.clone(), segmenter);
        let restored =
            workbench.restore(&project.masks, project.selected).map_err(|e| format!("{}: {e}", path.display()));
        if self.check(restored).is_none() {
            return;
        }
        self.workbench = workbench;
        self.canvas.overlays.invalidate();
        (self.lift.lifted, self.lift.scene) = (None, None);
        self.viewport.show(photo_scene(&image), -glam::Vec3::Y, true);
        self.photo = Photo::new(image, project.image.clone());
        self.session.scene_files.clear();
        for f in &project.scene_files {
            self.open_3d(f);
        }
        self.bodies = super::bodies::BodyBench::default();
        self.body_view.shown = super::bodies_panel::BodyShown::default();
        self.body_view.overlay.invalidate();
        if let Some(b) = &project.body {
            let restored = self.bodies.restore(b).map_err(|e| format!("{}: body not restored: {e}", path.display()));
            self.check(restored);
        }
        self.set_status(format!("opened {}", path.display()));
        self.remember(path);
    }

    /// Writes the autosave after edits (at most every 1.5 s). A failure shows in the status line
    /// (not as a toast: it would repeat after every edit).
    pub(super) fn autosave(&mut self) {
        let edits = EditGenerations { masks: self.workbench.generation, bodies: self.bodies.generation };
        let autosave = &mut self.session.autosave;
        if edits == autosave.saved || autosave.saved_at.elapsed().as_secs_f32() < AUTOSAVE_INTERVAL_S {
            return;
        }
        autosave.saved = edits;
        autosave.saved_at = Instant::now();
        let Some(path) = autosave.path.clone() else { return };
        if let Some(dir) = path.parent()
            && let Err(e) = std::fs::create_dir_all(dir)
        {
            // Saving below reports the failure to the user.
            tracing::warn!("autosave: cannot create {}: {e}", dir.display());
        }
        if let Err(e) = self.project().save(&path) {
            tracing::warn!("autosave failed: {e}");
            self.status = format!("autosave failed: {e}");
        }
    }
}
