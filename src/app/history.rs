//! Undo and redo for any state: [`History`] keeps the states before each edit (at most a cap of
//! them, the oldest dropped first) and the states undone since. The workbench keeps its masks in
//! one, the body bench its parameters in another.

use std::collections::VecDeque;

/// How many edits both benches can undo.
pub const UNDO_STEPS: usize = 100;

/// Undo and redo stacks of `T`, the undo stack capped.
#[derive(Clone, Debug)]
pub struct History<T> {
    undo: VecDeque<T>,
    redo: Vec<T>,
    cap: usize,
}

impl<T> Default for History<T> {
    fn default() -> Self {
        Self::new(UNDO_STEPS)
    }
}

impl<T> History<T> {
    /// An empty history that keeps at most `cap` undo steps.
    pub fn new(cap: usize) -> Self {
        Self { undo: VecDeque::new(), redo: Vec::new(), cap }
    }

    /// Records `before`, the state an edit is about to change; the redo stack is dropped.
    pub fn record(&mut self, before: T) {
        self.undo.push_back(before);
        self.redo.clear();
        while self.undo.len() > self.cap {
            self.undo.pop_front();
        }
    }

    /// Steps back: `restore` receives the previous state, puts it in place and returns the state it
    /// replaced (which becomes redoable). `false` (and `restore` not called) when there is nothing
    /// to undo.
    pub fn undo(&mut self, restore: impl FnOnce(T) -> T) -> bool {
        let Some(previous) = self.undo.pop_back() else { return false };
        self.redo.push(restore(previous));
        true
    }

    /// Steps forward again, like [`History::undo`] the other way.
    pub fn redo(&mut self, restore: impl FnOnce(T) -> T) -> bool {
        let Some(next) = self.redo.pop() else { return false };
        self.undo.push_back(restore(next));
        while self.undo.len() > self.cap {
            self.undo.pop_front();
        }
        true
    }

    /// Forgets every step (a new document).
    pub fn clear(&mut self) {
        self.undo.clear();
        self.redo.clear();
    }

    pub fn can_undo(&self) -> bool {
        !self.undo.is_empty()
    }

    pub fn can_redo(&self) -> bool {
        !self.redo.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Applies an edit to `state`, recording it.
    fn edit(history: &mut History<i32>, state: &mut i32, value: i32) {
        history.record(*state);
        *state = value;
    }

    #[test]
    fn undo_redo_round_trip() {
        let (mut h, mut s) = (History::new(10), 0);
        assert!(!h.can_undo() && !h.can_redo());
        edit(&mut h, &mut s, 1);
        edit(&mut h, &mut s, 2);
        assert!(h.undo(|prev| std::mem::replace(&mut s, prev)) && s == 1);
        assert!(h.undo(|prev| std::mem::replace(&mut s, prev)) && s == 0);
        assert!(!h.undo(|_| unreachable!("nothing to undo")));
        assert!(h.redo(|next| std::mem::replace(&mut s, next)) && s == 1);
        assert!(h.redo(|next| std::mem::replace(&mut s, next)) && s == 2);
        assert!(!h.redo(|_| unreachable!("nothing to redo")));
    }

    #[test]
    fn a_new_edit_drops_the_redo_stack() {
        let (mut h, mut s) = (History::new(10), 0);
        edit(&mut h, &mut s, 1);
        assert!(h.undo(|prev| std::mem::replace(&mut s, prev)));
        assert!(h.can_redo());
        edit(&mut h, &mut s, 5);
        assert!(!h.can_redo());
        assert!(h.undo(|prev| std::mem::replace(&mut s, prev)) && s == 0);
    }

    #[test]
    fn the_cap_drops_the_oldest_steps() {
        let (mut h, mut s) = (History::new(3), 0);
        for v in 1..=5 {
            edit(&mut h, &mut s, v);
        }
        let mut undone = 0;
        while h.undo(|prev| std::mem::replace(&mut s, prev)) {
            undone += 1;
        }
        assert_eq!((undone, s), (3, 2), "three steps back from 5");
        // Redoing everything and then undoing again still respects the cap.
        while h.redo(|next| std::mem::replace(&mut s, next)) {}
        assert_eq!(s, 5);
        edit(&mut h, &mut s, 6);
        let mut undone = 0;
        while h.undo(|prev| std::mem::replace(&mut s, prev)) {
            undone += 1;
        }
        assert_eq!((undone, s), (3, 3));
    }

    #[test]
    fn clear_forgets_everything() {
        let (mut h, mut s) = (History::default(), 0);
        edit(&mut h, &mut s, 1);
        assert!(h.undo(|prev| std::mem::replace(&mut s, prev)));
        edit(&mut h, &mut s, 2);
        h.clear();
        assert!(!h.can_undo() && !h.can_redo());
    }
}
