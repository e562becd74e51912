//! Mask edits on the workbench, each one undo step: choosing a hypothesis, brush and eraser
//! strokes, merging, renaming, deleting, showing and hiding; and undo/redo themselves.

use super::{MaskSnapshot, Workbench};

impl Workbench {
    /// Records the masks before an edit (one undo step).
    pub(super) fn snapshot(&mut self) {
        self.history.record(MaskSnapshot { masks: self.masks.clone(), selected: self.selected });
    }

    pub(super) fn changed(&mut self) {
        self.generation += 1;
    }

    /// Swaps hypothesis `k` of mask `i` in (undoable).
    pub fn choose_hypothesis(&mut self, i: usize, k: usize) {
        let Some(h) = self.masks.get(i).and_then(|m| m.hypotheses.get(k)).cloned() else { return };
        self.snapshot();
        let m = &mut self.masks[i];
        m.mask = h.mask;
        m.score = h.score;
        self.changed();
    }

    /// Starts a brush or eraser stroke on mask `i` (one undo step per stroke).
    pub fn begin_stroke(&mut self) {
        self.snapshot();
    }

    /// Paints (or erases) a disc of `radius_px` at image pixel `(x, y)` into mask `i`.
    pub fn paint(&mut self, i: usize, x_px: f32, y_px: f32, radius_px: f32, add: bool) {
        let Some(m) = self.masks.get_mut(i) else { return };
        let (w, h) = (m.mask.width() as i64, m.mask.height() as i64);
        let r = radius_px.max(0.5);
        let (x0, x1) = (((x_px - r).floor() as i64).max(0), ((x_px + r).ceil() as i64).min(w - 1));
        let (y0, y1) = (((y_px - r).floor() as i64).max(0), ((y_px + r).ceil() as i64).min(h - 1));
        for y in y0..=y1 {
            for x in x0..=x1 {
                let (dx, dy) = (x as f32 + 0.5 - x_px, y as f32 + 0.5 - y_px);
                if dx * dx + dy * dy <= r * r {
                    m.mask.set(x as u32, y as u32, add);
                }
            }
        }
        m.hypotheses.clear();
        self.changed();
    }

    /// Merges mask `j` into mask `i` (union; `j` is removed; undoable).
    pub fn merge(&mut self, i: usize, j: usize) {
        if i == j || i >= self.masks.len() || j >= self.masks.len() {
            return;
        }
        self.snapshot();
        let other = self.masks[j].mask.clone();
        let (w, h) = (other.width(), other.height());
        let m = &mut self.masks[i];
        for y in 0..h {
            for x in 0..w {
                if other.get(x, y) {
                    m.mask.set(x, y, true);
                }
            }
        }
        m.hypotheses.clear();
        let points = self.masks[j].points.clone();
        self.masks[i].points.extend(points);
        self.masks.remove(j);
        self.selected = Some(if j < i { i - 1 } else { i });
        self.changed();
    }

    /// Renames mask `i` (undoable).
    pub fn rename(&mut self, i: usize, name: &str) {
        if i < self.masks.len() && self.masks[i].name != name {
            self.snapshot();
            self.masks[i].name = name.to_owned();
            self.changed();
        }
    }

    /// Removes mask `i` (undoable).
    pub fn delete(&mut self, i: usize) {
        if i < self.masks.len() {
            self.snapshot();
            self.masks.remove(i);
            self.selected = None;
            self.changed();
        }
    }

    /// Gives mask `i` the class `class` shown in `color` (undoable); a pre-label given a class by
    /// the user becomes the user's label.
    pub fn set_class(&mut self, i: usize, class: &str, color: [u8; 3]) {
        let Some(m) = self.masks.get(i) else { return };
        if m.label.as_deref() == Some(class) && m.color == color && !m.prelabel {
            return;
        }
        self.snapshot();
        let m = &mut self.masks[i];
        if let Some(old) = m.label.as_deref()
            && let Some(rest) = m.name.strip_prefix(old)
        {
            m.name = format!("{class}{rest}");
        }
        m.label = Some(class.to_owned());
        m.color = color;
        m.prelabel = false;
        self.changed();
    }

    /// Accepts pre-label `i` (or, with `None`, every pre-label of the photo) as the user's label
    /// (one undo step); returns how many were accepted.
    pub fn accept_prelabels(&mut self, only: Option<usize>) -> usize {
        let which: Vec<usize> =
            (0..self.masks.len()).filter(|&i| self.masks[i].prelabel && only.is_none_or(|j| j == i)).collect();
        if which.is_empty() {
            return 0;
        }
        self.snapshot();
        for &i in &which {
            self.masks[i].prelabel = false;
        }
        self.changed();
        which.len()
    }

    /// Adds pre-labels found for this photo elsewhere (a concept run over the folder), after the
    /// masks there are, never touching them (one undo step).
    pub fn add_prelabels(&mut self, found: Vec<super::MaskEntry>) {
        let (w, h) = (self.image.width(), self.image.height());
        let found: Vec<_> = found.into_iter().filter(|m| (m.mask.width(), m.mask.height()) == (w, h)).collect();
        if found.is_empty() {
            return;
        }
        self.snapshot();
        for mut m in found {
            m.prelabel = true;
            self.masks.push(m);
            self.next_name += 1;
        }
        self.changed();
    }

    /// Shows or hides mask `i` (undoable).
    pub fn set_visible(&mut self, i: usize, visible: bool) {
        if i < self.masks.len() && self.masks[i].visible != visible {
            self.snapshot();
            self.masks[i].visible = visible;
            self.changed();
        }
    }

    /// Takes the last edit back; `false` when there is none.
    pub fn undo(&mut self) -> bool {
        let done = self.history.undo(|previous| MaskSnapshot {
            masks: std::mem::replace(&mut self.masks, previous.masks),
            selected: std::mem::replace(&mut self.selected, previous.selected),
        });
        if done {
            self.changed();
        }
        done
    }

    /// Applies the last undone edit again; `false` when there is none.
    pub fn redo(&mut self) -> bool {
        let done = self.history.redo(|next| MaskSnapshot {
            masks: std::mem::replace(&mut self.masks, next.masks),
            selected: std::mem::replace(&mut self.selected, next.selected),
        });
        if done {
            self.changed();
        }
        done
    }
}
