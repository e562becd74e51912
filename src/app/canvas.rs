//! The photo canvas: the photo fitted to its pane with zoom (wheel, to the cursor) and pan (middle
//! drag), the body and mask overlays on it, and the tools: click (new object), right/Shift-click
//! (refine), box drag, brush and eraser.

use super::cache::GenerationCache;
use super::{CarveApp, Tool};
use crate::core::prompt::{BoxPrompt, PointLabel};

/// What the canvas remembers between frames.
pub struct CanvasState {
    pub tool: Tool,
    pub brush_radius_px: f32,
    /// Zoom (1 = fit) and pan (screen points).
    zoom: f32,
    pan: egui::Vec2,
    /// Where a box drag started (screen).
    drag_start: Option<egui::Pos2>,
    /// Where the photo was drawn last frame (screen points), for tests and tools.
    pub photo_rect: Option<egui::Rect>,
    /// Mask overlays at the photo texture's size, for a workbench generation.
    pub overlays: GenerationCache<Vec<Option<egui::TextureHandle>>>,
}

impl Default for CanvasState {
    fn default() -> Self {
        Self {
            tool: Tool::Prompt,
            brush_radius_px: 12.0,
            zoom: 1.0,
            pan: egui::Vec2::ZERO,
            drag_start: None,
            photo_rect: None,
            overlays: GenerationCache::default(),
        }
    }
}

impl CanvasState {
    /// Back to the whole photo.
    pub fn fit(&mut self) {
        self.zoom = 1.0;
        self.pan = egui::Vec2::ZERO;
    }

    /// Zooms to the cursor with the wheel and pans with a middle drag over `rect`.
    fn zoom_and_pan(&mut self, ui: &egui::Ui, rect: egui::Rect, response: &egui::Response) {
        if response.hovered() {
            let (scroll, pointer) = ui.input(|i| (i.smooth_scroll_delta.y, i.pointer.hover_pos()));
            if scroll != 0.0
                && let Some(p) = pointer
            {
                let old = self.zoom;
                self.zoom = (old * (scroll * 0.003).exp()).clamp(1.0, 40.0);
                // Keep the image point under the cursor where it is.
                let centre = rect.center() + self.pan;
                self.pan += (p - centre) * (1.0 - self.zoom / old);
            }
        }
        if response.dragged_by(egui::PointerButton::Middle) {
            self.pan += response.drag_delta();
        }
        if self.zoom <= 1.0 {
            self.pan = egui::Vec2::ZERO;
        }
    }
}

/// Maps screen points to image pixels for a photo drawn at `rect`.
#[derive(Clone, Copy)]
struct ScreenToImage {
    rect: egui::Rect,
    width_px: f32,
    height_px: f32,
}

impl ScreenToImage {
    fn image_px(self, pos: egui::Pos2) -> (f32, f32) {
        (
            (pos.x - self.rect.min.x) / self.rect.width() * self.width_px,
            (pos.y - self.rect.min.y) / self.rect.height() * self.height_px,
        )
    }
}

impl CarveApp {
    /// The photo, fitted to the available space, with its masks; left click adds an object,
    /// right click (or shift-click) refines the selected one with a negative click.
    pub(super) fn canvas_ui(&mut self, ui: &mut egui::Ui) {
        let texture = self.photo.texture(ui.ctx());
        let available = ui.available_size();
        let size = texture.size_vec2();
        let fit = (available.x / size.x).min(available.y / size.y).max(0.01);
        let (rect, response) = ui.allocate_exact_size(available, egui::Sense::click_and_drag());
        // Zoom to the cursor with the wheel, pan with a middle drag, F fits.
        self.canvas.zoom_and_pan(ui, rect, &response);
        let image_rect = egui::Rect::from_center_size(rect.center() + self.canvas.pan, size * fit * self.canvas.zoom);
        self.canvas.photo_rect = Some(image_rect);
        let uv = egui::Rect::from_min_max(egui::pos2(0.0, 0.0), egui::pos2(1.0, 1.0));
        let painter = ui.painter_at(rect);
        painter.image(texture.id(), image_rect, uv, egui::Color32::WHITE);
        if self.body_view.show_overlay
            && let Some(overlay) = self.body_overlay_texture(ui.ctx())
        {
            painter.image(overlay.id(), image_rect, uv, egui::Color32::WHITE);
        }
        for overlay in self.mask_overlays(ui.ctx(), texture.size()).iter().flatten() {
            painter.image(overlay.id(), image_rect, uv, egui::Color32::WHITE);
        }
        let to_image = ScreenToImage {
            rect: image_rect,
            width_px: self.workbench.image.width() as f32,
            height_px: self.workbench.image.height() as f32,
        };
        match self.canvas.tool {
            Tool::Prompt => self.prompt_tool_ui(ui, &response, to_image),
            Tool::Brush | Tool::Eraser => self.brush_tool_ui(ui, &response, to_image),
        }
    }

    /// Click: a new object; right/Shift-click: refine the selected mask; drag: a box prompt.
    fn prompt_tool_ui(&mut self, ui: &egui::Ui, response: &egui::Response, to_image: ScreenToImage) {
        let (w, h) = (to_image.width_px, to_image.height_px);
        if response.drag_started_by(egui::PointerButton::Primary) {
            self.canvas.drag_start = response.interact_pointer_pos();
        }
        if let (Some(a), Some(b)) =
            (self.canvas.drag_start, response.interact_pointer_pos().or(ui.input(|i| i.pointer.latest_pos())))
        {
            ui.painter().rect_stroke(
                egui::Rect::from_two_pos(a, b),
                0.0,
                egui::Stroke::new(1.5, egui::Color32::YELLOW),
                egui::StrokeKind::Middle,
            );
        }
        if response.drag_stopped() {
            if let (Some(a), Some(b)) = (self.canvas.drag_start.take(), ui.input(|i| i.pointer.latest_pos())) {
                let (p, q) = (to_image.image_px(a.min(b)), to_image.image_px(a.max(b)));
                let (x0, y0) = (p.0.clamp(0.0, w - 1.0), p.1.clamp(0.0, h - 1.0));
                let (x1, y1) = (q.0.clamp(0.0, w - 1.0), q.1.clamp(0.0, h - 1.0));
                if x1 - x0 >= 4.0 && y1 - y0 >= 4.0 {
                    self.workbench.drag_box(BoxPrompt { x0_px: x0, y0_px: y0, x1_px: x1, y1_px: y1 });
                }
            }
            return;
        }
        let shift = ui.input(|i| i.modifiers.shift);
        let label = if response.secondary_clicked() || (response.clicked() && shift) {
            Some(PointLabel::Negative)
        } else if response.clicked() {
            Some(PointLabel::Positive)
        } else {
            None
        };
        if let (Some(label), Some(pos)) = (label, response.interact_pointer_pos())
            && to_image.rect.contains(pos)
        {
            let (x, y) = to_image.image_px(pos);
            self.workbench.click(x, y, label);
        }
    }

    /// Brush or eraser strokes on the selected mask, one undo step per stroke.
    fn brush_tool_ui(&mut self, ui: &egui::Ui, response: &egui::Response, to_image: ScreenToImage) {
        let add = self.canvas.tool == Tool::Brush;
        let radius_px = self.canvas.brush_radius_px;
        let radius_screen = radius_px / to_image.width_px * to_image.rect.width();
        if let Some(pos) = ui.input(|i| i.pointer.latest_pos()).filter(|p| to_image.rect.contains(*p)) {
            let color = if add { egui::Color32::LIGHT_GREEN } else { egui::Color32::LIGHT_RED };
            ui.painter().circle_stroke(pos, radius_screen, egui::Stroke::new(1.5, color));
        }
        let Some(i) = self.workbench.selected else {
            if response.clicked() || response.drag_started() {
                self.show_error("select a mask to paint on");
            }
            return;
        };
        if response.drag_started() || response.clicked() {
            self.workbench.begin_stroke();
        }
        if (response.dragged() || response.clicked())
            && let Some(pos) = response.interact_pointer_pos()
        {
            let (x, y) = to_image.image_px(pos);
            self.workbench.paint(i, x, y, radius_px, add);
        }
    }

    /// Overlay textures of the visible masks at `size`, rebuilt when the masks change.
    fn mask_overlays(&mut self, ctx: &egui::Context, size: [usize; 2]) -> &[Option<egui::TextureHandle>] {
        let workbench = &self.workbench;
        self.canvas.overlays.update(workbench.generation, || {
            let (iw, ih) = (workbench.image.width() as usize, workbench.image.height() as usize);
            workbench
                .masks
                .iter()
                .enumerate()
                .map(|(i, m)| {
                    m.visible.then(|| {
                        let [r, g, b] = m.color;
                        let pixels: Vec<egui::Color32> = (0..size[0] * size[1])
                            .map(|k| {
                                let (x, y) = ((k % size[0]) * iw / size[0], (k / size[0]) * ih / size[1]);
                                // Pre-labels are hatched: a proposal, not yet the user's.
                                let stripe = !m.prelabel || ((k % size[0]) + (k / size[0])) % 8 < 3;
                                if m.mask.get(x as u32, y as u32) {
                                    egui::Color32::from_rgba_unmultiplied(r, g, b, if stripe { 110 } else { 25 })
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
                .collect()
        })
    }

    /// The body over the photo, as a texture (rebuilt when the body changes).
    fn body_overlay_texture(&mut self, ctx: &egui::Context) -> Option<egui::TextureHandle> {
        self.bodies.body.as_ref()?;
        if let Some(Some(t)) = self.body_view.overlay.get(self.bodies.generation) {
            return Some(t.clone());
        }
        let k = self.bodies.camera()?;
        if (k.width_px, k.height_px) != (self.photo.image.width(), self.photo.image.height()) {
            return None;
        }
        let drawn = self.bodies.overlay(self.photo.image.rgb())?;
        let color = egui::ColorImage::from_rgb([drawn.width() as usize, drawn.height() as usize], drawn.as_raw());
        let t = ctx.load_texture("body overlay", color, egui::TextureOptions::LINEAR);
        self.body_view.overlay.set(self.bodies.generation, Some(t.clone()));
        Some(t)
    }
}
