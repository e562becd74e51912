//! The Masks tab: the engine picker, the tools and the text prompt, the mask list (colour, name,
//! engine and score, visibility, merge, delete; grouped by class for a dataset's photo, pre-labels
//! outlined with an accept button), the selected mask's name, export and hypotheses,
//! and the lift button with the lifted object's panel below it.

use super::cache::GenerationCache;
use super::shortcuts::{self, Action};
use super::{CarveApp, Tool};
use crate::model::precision::PrecisionChoice;
use crate::segment::EngineChoice;

/// What the Masks tab remembers between frames.
#[derive(Default)]
pub struct MasksPanelState {
    /// The text prompt being typed.
    pub text_query: String,
    /// Hypothesis thumbnails of the selected mask (which one, its textures), for a workbench
    /// generation: selecting another mask is no edit, so the mask index is checked too.
    thumbnails: GenerationCache<(usize, Vec<egui::TextureHandle>)>,
}

impl CarveApp {
    /// The Masks tab.
    pub(super) fn masks_ui(&mut self, ui: &mut egui::Ui) {
        self.engine_ui(ui);
        ui.separator();
        self.tools_ui(ui);
        ui.separator();
        ui.heading("Masks");
        ui.weak("click: new object · right-click: refine · Ctrl+Z / Ctrl+Shift+Z: undo / redo");
        ui.separator();
        self.mask_list_ui(ui);
        ui.separator();
        let can_lift = self.workbench.selected.is_some() && !self.workbench.busy();
        ui.horizontal(|ui| {
            if ui.add_enabled(can_lift, egui::Button::new("Lift selected to 3D")).clicked() {
                let started = self.workbench.lift_selected();
                self.check(started);
            }
            let can_lift_all = !self.workbench.masks.is_empty() && !self.workbench.busy();
            if ui
                .add_enabled(can_lift_all, egui::Button::new("Lift all"))
                .on_hover_text("every mask into one 3D scene: one camera, objects standing on a shared ground")
                .clicked()
            {
                let started = self.workbench.lift_all();
                self.check(started);
            }
        });
        self.lift_panel_ui(ui);
    }

    /// Engine and model folder: applied by a background load; a failure keeps the current engine
    /// and every mask.
    fn engine_ui(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            ui.label("Engine");
            ui.selectable_value(&mut self.engine.choice, EngineChoice::Auto, "auto");
            ui.selectable_value(&mut self.engine.choice, EngineChoice::Classical, "classical");
            ui.selectable_value(&mut self.engine.choice, EngineChoice::Sam3, "SAM 3");
            ui.selectable_value(&mut self.engine.choice, EngineChoice::Sam2, "SAM 2.1");
        });
        ui.horizontal(|ui| {
            ui.label("Precision");
            for (p, name) in
                [(PrecisionChoice::Auto, "auto"), (PrecisionChoice::Fp32, "fp32"), (PrecisionChoice::Bf16, "bf16")]
            {
                ui.selectable_value(&mut self.engine.precision, p, name).on_hover_text(match p {
                    PrecisionChoice::Auto => {
                        "bf16 where the CPU has AMX / AVX-512-BF16 and the model folder has it, else fp32"
                    }
                    PrecisionChoice::Fp32 => "exact to the exported model",
                    PrecisionChoice::Bf16 => {
                        "about 3x faster on CPUs with AMX / AVX-512-BF16; ~1 % off the fp32 features"
                    }
                });
            }
        });
        ui.horizontal(|ui| {
            ui.add(
                egui::TextEdit::singleline(&mut self.engine.model_folder)
                    .hint_text("model folder")
                    .desired_width(130.0),
            );
            if ui.small_button("Browse…").clicked()
                && let Some(dir) = rfd::FileDialog::new().pick_folder()
            {
                self.engine.model_folder = dir.display().to_string();
            }
            if ui.add_enabled(!self.engine.busy(), egui::Button::new("Load")).clicked() {
                self.engine.load();
            }
        });
        if let Some(kind) = self.workbench.engine() {
            ui.weak(format!("new masks come from: {}", kind.as_str()));
        }
    }

    /// Tools and the text prompt.
    fn tools_ui(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            for (tool, name) in [(Tool::Prompt, "Click / box"), (Tool::Brush, "Brush"), (Tool::Eraser, "Eraser")] {
                ui.selectable_value(&mut self.canvas.tool, tool, name)
                    .on_hover_text(shortcuts::key_name(Action::Tool(tool)).unwrap_or_default());
            }
        });
        if self.canvas.tool != Tool::Prompt {
            ui.add(egui::Slider::new(&mut self.canvas.brush_radius_px, 1.0..=80.0).text("radius px"));
        }
        ui.horizontal(|ui| {
            let r = ui.add(
                egui::TextEdit::singleline(&mut self.masks_panel.text_query)
                    .hint_text("find all… (text)")
                    .desired_width(150.0),
            );
            let enter = r.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
            if (ui.button("Find").clicked() || enter) && !self.masks_panel.text_query.trim().is_empty() {
                let q = self.masks_panel.text_query.clone();
                self.workbench.text(&q);
            }
        });
    }

    /// One row per mask (grouped by class when the photo belongs to a dataset), then the selected
    /// mask's name, export and hypotheses.
    fn mask_list_ui(&mut self, ui: &mut egui::Ui) {
        let mut delete = None;
        let mut visibility = None;
        let mut merge = None;
        let mut accept = None;
        for (group, rows) in self.mask_groups() {
            if let Some(class) = group {
                ui.strong(format!("{class} ({})", rows.len()));
            }
            for i in rows {
                let m = &self.workbench.masks[i];
                ui.horizontal(|ui| {
                    let [r, g, b] = m.color;
                    let (swatch, _) = ui.allocate_exact_size(egui::vec2(12.0, 12.0), egui::Sense::hover());
                    if m.prelabel {
                        ui.painter().rect_stroke(
                            swatch,
                            2.0,
                            egui::Stroke::new(2.0, egui::Color32::from_rgb(r, g, b)),
                            egui::StrokeKind::Inside,
                        );
                    } else {
                        ui.painter().rect_filled(swatch, 2.0, egui::Color32::from_rgb(r, g, b));
                    }
                    let mut visible = m.visible;
                    if ui.checkbox(&mut visible, "show").changed() {
                        visibility = Some((i, visible));
                    }
                    if ui.selectable_label(self.workbench.selected == Some(i), &m.name).clicked() {
                        self.workbench.selected = Some(i);
                    }
                    ui.weak(format!("{} {:.2}", m.engine.as_str(), m.score));
                    if m.prelabel && ui.small_button("accept").on_hover_text("a pre-label: Y accepts it").clicked() {
                        accept = Some(i);
                    }
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
        }
        if let Some(i) = accept {
            self.workbench.accept_prelabels(Some(i));
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
                    let written = self.workbench.export(i, &path, &self.photo.name);
                    self.report(written, |_| format!("wrote {}", path.display()));
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
    }

    /// The masks' indices in list order: one group per class, in the class list's order (classes
    /// not listed after), when the photo belongs to a dataset; else one unnamed group.
    fn mask_groups(&self) -> Vec<(Option<String>, Vec<usize>)> {
        let masks = &self.workbench.masks;
        let Some(classes) = &self.workbench.classes else { return vec![(None, (0..masks.len()).collect())] };
        let mut names: Vec<String> = classes.colors.iter().map(|(n, _)| n.clone()).collect();
        for m in masks {
            let l = m.label.clone().unwrap_or_default();
            if !names.contains(&l) {
                names.push(l);
            }
        }
        names
            .into_iter()
            .map(|n| {
                let rows: Vec<usize> =
                    (0..masks.len()).filter(|&i| masks[i].label.as_deref().unwrap_or("") == n).collect();
                (Some(n), rows)
            })
            .filter(|(_, rows)| !rows.is_empty())
            .collect()
    }

    /// Thumbnails of the selected mask's hypotheses (the photo with the mask tinted).
    fn hypotheses_ui(&mut self, ui: &mut egui::Ui) {
        let Some(i) = self.workbench.selected else { return };
        let Some(m) = self.workbench.masks.get(i) else { return };
        if m.hypotheses.len() < 2 {
            return;
        }
        let rgb = self.workbench.image.rgb();
        if self.masks_panel.thumbnails.get(self.workbench.generation).is_some_and(|(shown, _)| *shown != i) {
            self.masks_panel.thumbnails.invalidate();
        }
        let (_, thumbnails) = self.masks_panel.thumbnails.update(self.workbench.generation, || {
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
            (i, textures)
        });
        ui.label("Hypotheses (click to choose)");
        let mut chosen = None;
        ui.horizontal(|ui| {
            for (k, (t, h)) in thumbnails.iter().zip(&m.hypotheses).enumerate() {
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
}
