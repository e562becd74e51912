//! The Folder tab and moving through a labelled folder: open a folder (dataset), go image to
//! image (A / D; the dataset is written after every edit and before each move), the class list
//! (colour, key, count; 1–9 assign), pre-labels (accept with Y, all with Shift+Y), a concept over
//! the photo or over every photo of the folder in the background, and the photo list with
//! statuses and lazily decoded thumbnails. The state is `folder::Folder`; this file draws it and
//! moves the workbench.

use std::path::Path;

use super::folder::Folder;
use super::photo::{Photo, photo_scene};
use super::{CarveApp, SideTab};
use crate::core::image::Image;
use crate::io::dataset::Status;
use crate::segment::prelabel::Concept;

/// Photos encoded ahead of the one shown.
const PREENCODE_AHEAD: usize = 2;

/// What the Folder tab remembers between frames.
#[derive(Default)]
pub struct FolderPanelState {
    /// A class being added.
    pub new_class: String,
    /// The concept typed for the folder.
    pub concept: String,
}

impl CarveApp {
    /// Opens folder `dir` as a dataset and shows its first photo not yet done. What is open stays
    /// when it fails.
    pub fn open_folder(&mut self, dir: &Path) {
        self.store_folder_image();
        let Some(folder) = self.check(Folder::open(dir)) else { return };
        for s in &folder.skipped {
            self.show_error(format!("skipped {}: {}", dir.join(&s.file).display(), s.reason));
        }
        let first = folder.current;
        let count = folder.dataset.images.len();
        self.folder = Some(folder);
        if !self.go_to_image(first) && !self.step_image(1) {
            self.folder = None;
            self.show_error(format!("{}: none of its {count} images could be read", dir.display()));
            return;
        }
        self.side_tab = SideTab::Folder;
        self.set_status(format!("{}: {count} images", dir.display()));
    }

    /// The open folder, if any.
    pub fn folder(&self) -> Option<&Folder> {
        self.folder.as_ref()
    }

    /// Closes the folder (its dataset is saved first).
    pub(super) fn close_folder(&mut self) {
        self.store_folder_image();
        if let Some(f) = self.folder.take()
            && let Some(run) = &f.concept
        {
            run.cancel();
        }
        self.workbench.classes = None;
    }

    /// Shows image `index` of the folder with its masks, after storing the photo shown. False (and
    /// an error naming the file) when it cannot be read; the photo shown stays then.
    pub fn go_to_image(&mut self, index: usize) -> bool {
        self.store_folder_image();
        let Some(folder) = &self.folder else { return false };
        let leaving = folder.stored_generation.map(|_| folder.current).filter(|&k| k != index);
        let Some(path) = folder.image_path(index) else { return false };
        let image = match Image::load(&path) {
            Ok(image) => image,
            Err(e) => {
                self.show_error(e);
                return false;
            }
        };
        let expected = (folder.dataset.images[index].width, folder.dataset.images[index].height);
        if (image.width(), image.height()) != expected {
            self.show_error(format!(
                "{}: the image is {}×{} but the dataset says {}×{}; its labels would not fit",
                path.display(),
                image.width(),
                image.height(),
                expected.0,
                expected.1
            ));
            return false;
        }
        let masks = folder.masks_of(index);
        let ahead: Vec<_> = (index + 1..index + 1 + PREENCODE_AHEAD).filter_map(|k| folder.image_path(k)).collect();
        let classes = folder.class_list();
        self.viewport.show(photo_scene(&image), -glam::Vec3::Y, true);
        self.workbench.show_photo(image.clone(), masks);
        self.workbench.classes = Some(classes);
        self.workbench.preencode(ahead);
        self.canvas.overlays.invalidate();
        (self.lift.lifted, self.lift.scene) = (None, None);
        self.photo = Photo::new(image, Some(path));
        self.canvas.fit();
        if let Some(folder) = &mut self.folder {
            let left = leaving.map(|k| folder.leave(k)).transpose();
            folder.current = index;
            folder.stored_generation = Some(self.workbench.generation);
            self.check(left);
        }
        true
    }

    /// Moves `delta` images (±1), past images that cannot be read; false when there is none.
    pub fn step_image(&mut self, delta: isize) -> bool {
        let Some(folder) = &self.folder else { return false };
        let (n, mut k) = (folder.dataset.images.len() as isize, folder.current as isize);
        loop {
            k += delta;
            if k < 0 || k >= n {
                return false;
            }
            if self.go_to_image(k as usize) {
                return true;
            }
        }
    }

    /// Writes the shown photo's masks into the dataset when they changed since the last write.
    pub(super) fn store_folder_image(&mut self) {
        let Some(folder) = &mut self.folder else { return };
        if folder.stored_generation.is_none_or(|g| g == self.workbench.generation) {
            return;
        }
        folder.stored_generation = Some(self.workbench.generation);
        let stored = folder.store(folder.current, &self.workbench.masks);
        // New classes (a concept's) got their colours: show them.
        let classes = folder.class_list();
        let mut recoloured = false;
        for m in &mut self.workbench.masks {
            if let Some(c) = m.label.as_deref().and_then(|l| classes.color_of(l))
                && c != m.color
            {
                m.color = c;
                recoloured = true;
            }
        }
        if recoloured {
            self.canvas.overlays.invalidate();
        }
        self.workbench.classes = Some(classes);
        if let Err(e) = stored {
            self.show_error(format!("the dataset was not saved: {e}"));
        }
    }

    /// Each frame: the dataset follows the edits, thumbnails and concept results arrive.
    pub(super) fn poll_folder(&mut self, ctx: &egui::Context) {
        self.store_folder_image();
        let Some(folder) = &mut self.folder else { return };
        if folder.thumbnails.poll(ctx) || folder.thumbnails.busy() || folder.concept.is_some() {
            ctx.request_repaint_after(std::time::Duration::from_millis(100));
        }
        let classes = folder.class_list();
        if self.workbench.classes.as_ref() != Some(&classes) {
            self.workbench.classes = Some(classes);
        }
        let (results, end) = folder.take_concept_results();
        let shown = folder.dataset.images.get(folder.current).map(|im| im.id);
        let mut errors = Vec::new();
        let mut here = Vec::new();
        for (image_id, found) in results {
            match found {
                Err(e) => errors.push(e),
                Ok(found) if Some(image_id) == shown => here.extend(found),
                Ok(found) => {
                    if let Err(e) = folder.add_prelabels(image_id, found) {
                        errors.push(format!("the dataset was not saved: {e}"));
                    }
                }
            }
        }
        if !here.is_empty() {
            let entries = folder.prelabel_entries(here, self.workbench.masks.len() + 1);
            self.workbench.add_prelabels(entries);
        }
        let end = end.map(|end| (end, folder.dataset.stats().prelabels));
        for e in errors {
            self.show_error(e);
        }
        match end {
            Some((Ok(n), prelabels)) => {
                self.set_status(format!("concept run over {n} images; {prelabels} pre-labels wait in the folder"))
            }
            Some((Err(e), _)) => self.show_error(format!("the concept run stopped: {e}")),
            None => {}
        }
    }

    /// Gives the selected mask (if any) and new masks the class bound to `key`.
    pub(super) fn class_key(&mut self, key: &str) {
        let Some(folder) = &mut self.folder else { return };
        let Some(class) = folder.class_for_key(key) else { return };
        self.assign_class(&class);
    }

    /// Makes `class` active and gives it to the selected mask.
    fn assign_class(&mut self, class: &str) {
        let Some(folder) = &mut self.folder else { return };
        folder.active_class = class.to_owned();
        let classes = folder.class_list();
        if let (Some(i), Some(color)) = (self.workbench.selected, classes.color_of(class)) {
            self.workbench.set_class(i, class, color);
        }
        self.workbench.classes = Some(classes);
    }

    /// The Folder tab.
    pub(super) fn folder_ui(&mut self, ui: &mut egui::Ui) {
        if self.folder.is_none() {
            ui.label("Label a folder of photos: every edit is saved in the folder's dataset.json (COCO).");
            if ui.button("Open folder…").clicked()
                && let Some(dir) = rfd::FileDialog::new().pick_folder()
            {
                self.open_folder(&dir);
            }
            return;
        }
        self.folder_nav_ui(ui);
        ui.separator();
        self.classes_ui(ui);
        ui.separator();
        self.concept_ui(ui);
        ui.separator();
        self.image_list_ui(ui);
    }

    /// Where we are, previous / next, done.
    fn folder_nav_ui(&mut self, ui: &mut egui::Ui) {
        let Some(folder) = &self.folder else { return };
        let s = folder.dataset.stats();
        let (current, n) = (folder.current, folder.dataset.images.len());
        let status = folder.dataset.images.get(current).map(|im| im.status).unwrap_or_default();
        ui.strong(folder.dir.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default());
        ui.weak(format!("{} images · {} done · {} pre-labelled · {} to do", s.images, s.done, s.prelabelled, s.todo));
        let mut go = None;
        let mut toggle = false;
        ui.horizontal(|ui| {
            if ui.add_enabled(current > 0, egui::Button::new("Previous")).on_hover_text("A").clicked() {
                go = Some(-1);
            }
            ui.label(format!("{} / {n}", current + 1));
            if ui.add_enabled(current + 1 < n, egui::Button::new("Next")).on_hover_text("D").clicked() {
                go = Some(1);
            }
            let label = if status == Status::Done { "Reopen" } else { "Mark done" };
            toggle = ui.button(label).on_hover_text("an image with nothing to label is done too").clicked();
        });
        if let Some(delta) = go {
            self.step_image(delta);
        }
        if toggle {
            self.store_folder_image();
            if let Some(folder) = &mut self.folder {
                let done = folder.toggle_done(folder.current);
                self.check(done);
            }
        }
        let waiting = self.workbench.masks.iter().filter(|m| m.prelabel).count();
        if waiting > 0
            && ui
                .button(format!("Accept {waiting} pre-labels"))
                .on_hover_text("Y: the selected pre-label · Shift+Y: all of this image")
                .clicked()
        {
            self.workbench.accept_prelabels(None);
        }
    }

    /// The classes: colour, key, name (click: new masks get it, and the selected mask), count.
    fn classes_ui(&mut self, ui: &mut egui::Ui) {
        let Some(folder) = &mut self.folder else { return };
        ui.label("Classes (1–9 or click: the selected mask's and new masks' class)");
        let counts = folder.dataset.stats().per_category;
        let mut chosen = None;
        let mut recoloured = false;
        for c in &mut folder.dataset.categories {
            ui.horizontal(|ui| {
                let mut color = c.color.unwrap_or([200, 200, 200]);
                if ui.color_edit_button_srgb(&mut color).changed() {
                    c.color = Some(color);
                    recoloured = true;
                }
                ui.weak(c.key.as_deref().unwrap_or(" "));
                if ui.selectable_label(folder.active_class == c.name, &c.name).clicked() {
                    chosen = Some(c.name.clone());
                }
                ui.weak(counts.get(&c.name).copied().unwrap_or(0).to_string());
            });
        }
        let mut add = false;
        ui.horizontal(|ui| {
            let r = ui.add(
                egui::TextEdit::singleline(&mut self.folder_panel.new_class)
                    .hint_text("new class")
                    .desired_width(120.0),
            );
            let enter = r.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
            add = (ui.button("Add class").clicked() || enter) && !self.folder_panel.new_class.trim().is_empty();
        });
        if recoloured {
            let saved = folder.dataset.save(&folder.path());
            self.check(saved);
            // The masks take their class's new colour.
            if let Some(folder) = &self.folder {
                let classes = folder.class_list();
                for m in &mut self.workbench.masks {
                    if let Some(c) = m.label.as_deref().and_then(|l| classes.color_of(l)) {
                        m.color = c;
                    }
                }
            }
            self.canvas.overlays.invalidate();
        }
        if add {
            let name = std::mem::take(&mut self.folder_panel.new_class);
            if let Some(folder) = &mut self.folder {
                let added = folder.add_class(&name);
                self.check(added);
            }
        }
        if let Some(class) = chosen {
            self.assign_class(&class);
        }
    }

    /// A concept over this photo (pre-labels at once) or over the folder (in the background).
    fn concept_ui(&mut self, ui: &mut egui::Ui) {
        ui.weak("Find a concept (SAM 3; empty: the active class's name): pre-labels of that class");
        ui.horizontal(|ui| {
            let label = ui.label("Concept");
            ui.add(
                egui::TextEdit::singleline(&mut self.folder_panel.concept)
                    .hint_text("e.g. red car")
                    .desired_width(160.0),
            )
            .labelled_by(label.id);
        });
        // Empty: the active class's name is the concept.
        let typed = self.folder_panel.concept.trim().to_owned();
        let concept = if typed.is_empty() {
            self.folder.as_ref().map(|f| f.active_class.clone()).unwrap_or_default()
        } else {
            typed
        };
        let running = self.folder.as_ref().and_then(|f| f.concept.as_ref().map(|r| r.progress()));
        ui.horizontal(|ui| {
            if ui.add_enabled(!concept.is_empty(), egui::Button::new("In this photo")).clicked() {
                self.workbench.text(&concept);
            }
            let folder_run = ui
                .add_enabled(!concept.is_empty() && running.is_none(), egui::Button::new("In every photo"))
                .on_hover_text("in the background, photo after photo; results arrive as pre-labels");
            if folder_run.clicked() {
                let segmenter = self.workbench.segmenter_handle();
                if let Some(folder) = &mut self.folder {
                    folder.start_concept(Concept::named(&concept), segmenter);
                }
            }
        });
        if let Some(p) = running {
            ui.horizontal(|ui| {
                ui.add(egui::ProgressBar::new(p.fraction).desired_width(160.0).text(p.message));
                if ui.small_button("cancel").clicked()
                    && let Some(run) = self.folder.as_ref().and_then(|f| f.concept.as_ref())
                {
                    run.cancel();
                }
            });
        }
    }

    /// Every photo: thumbnail, status, name; click to open.
    fn image_list_ui(&mut self, ui: &mut egui::Ui) {
        let Some(folder) = &mut self.folder else { return };
        let mut go = None;
        let row_h = 40.0;
        let n = folder.dataset.images.len();
        egui::ScrollArea::vertical().id_salt("folder images").max_height(360.0).show_rows(ui, row_h, n, |ui, rows| {
            for k in rows {
                let im = &folder.dataset.images[k];
                let path = folder.dir.join(&im.file_name);
                let (id, status, name) = (im.id, im.status, im.file_name.clone());
                ui.horizontal(|ui| {
                    ui.set_height(row_h - 4.0);
                    match folder.thumbnails.get(id, &path) {
                        Some(Some(t)) => {
                            ui.add(egui::Image::new(t).max_height(row_h - 6.0).max_width(52.0));
                        }
                        Some(None) => {
                            ui.weak("unreadable");
                        }
                        None => {
                            ui.add_sized([52.0, row_h - 6.0], egui::Spinner::new());
                        }
                    }
                    status_dot_ui(ui, status);
                    if ui.selectable_label(k == folder.current, name).clicked() {
                        go = Some(k);
                    }
                });
            }
        });
        ui.horizontal(|ui| {
            for (status, name) in
                [(Status::Todo, "to do"), (Status::Prelabelled, "pre-labelled"), (Status::Done, "done")]
            {
                status_dot_ui(ui, status);
                ui.weak(name);
            }
        });
        if let Some(k) = go {
            self.go_to_image(k);
        }
    }
}

/// A dot for an image's status: hollow grey (to do), hollow orange (pre-labelled), filled green
/// (done).
fn status_dot_ui(ui: &mut egui::Ui, status: Status) {
    let (rect, _) = ui.allocate_exact_size(egui::vec2(10.0, 10.0), egui::Sense::hover());
    let (c, r) = (rect.center(), 4.0);
    match status {
        Status::Todo => ui.painter().circle_stroke(c, r, egui::Stroke::new(1.5, egui::Color32::GRAY)),
        Status::Prelabelled => ui.painter().circle_stroke(c, r, egui::Stroke::new(2.0, egui::Color32::ORANGE)),
        Status::Done => ui.painter().circle_filled(c, r, egui::Color32::from_rgb(60, 180, 75)),
    };
}
