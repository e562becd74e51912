//! Every shortcut of the window in one table: the help window lists its rows, and the key handling
//! reads the same rows' bindings, so the two cannot drift apart. Mouse gestures are rows without
//! bindings (the canvas and the viewport handle them).

use super::{CarveApp, SideTab, Tool, View};

/// What a shortcut does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Tool(Tool),
    /// Undo the last body edit on the Bodies tab (when there is one), else the last mask edit.
    Undo,
    Redo,
    DeleteMask,
    LiftMask,
    Tab(SideTab),
    View(View),
    /// Back to the whole photo (zoom 1).
    FitPhoto,
    ToggleHelp,
    /// The folder's next / previous photo.
    NextImage,
    PreviousImage,
    /// Accept the selected pre-label / every pre-label of the photo.
    AcceptPrelabel,
    AcceptAllPrelabels,
}

/// The keys of a binding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Chord {
    /// The key alone (no Ctrl/Cmd, Alt or Shift), and only while no text field has focus.
    Plain(egui::Key),
    /// Shift with the key (no Ctrl/Cmd or Alt), only while no text field has focus.
    Shifted(egui::Key),
    /// The key with any modifiers, even while typing.
    Any(egui::Key),
    /// Ctrl (Cmd on macOS) with the key, Shift as given, even while typing.
    Command { key: egui::Key, shift: bool },
}

impl Chord {
    fn key(self) -> egui::Key {
        match self {
            Chord::Plain(key) | Chord::Shifted(key) | Chord::Any(key) | Chord::Command { key, .. } => key,
        }
    }

    fn pressed(self, input: &egui::InputState, typing: bool) -> bool {
        let m = input.modifiers;
        match self {
            Chord::Plain(key) => !m.command && !m.alt && !m.shift && !typing && input.key_pressed(key),
            Chord::Shifted(key) => !m.command && !m.alt && m.shift && !typing && input.key_pressed(key),
            Chord::Any(key) => input.key_pressed(key),
            Chord::Command { key, shift } => input.key_pressed(key) && m.command && m.shift == shift,
        }
    }
}

/// A key binding.
#[derive(Clone, Copy, Debug)]
pub struct Binding {
    pub chord: Chord,
    pub action: Action,
}

/// One row of the help window, with the bindings it describes.
pub struct Shortcut {
    pub keys: &'static str,
    pub what: &'static str,
    pub bindings: &'static [Binding],
}

const fn plain(key: egui::Key, action: Action) -> Binding {
    Binding { chord: Chord::Plain(key), action }
}

/// Every tool and shortcut, in the help window's order.
pub const SHORTCUTS: &[Shortcut] = &[
    Shortcut { keys: "click (photo)", what: "segment a new object at the click", bindings: &[] },
    Shortcut { keys: "drag (photo)", what: "segment the object in the box", bindings: &[] },
    Shortcut {
        keys: "right-click / Shift+click",
        what: "refine the selected mask with a negative click",
        bindings: &[],
    },
    Shortcut {
        keys: "C · R · E",
        what: "click/box tool · brush · eraser (drag on the selected mask)",
        bindings: &[
            plain(egui::Key::C, Action::Tool(Tool::Prompt)),
            plain(egui::Key::R, Action::Tool(Tool::Brush)),
            plain(egui::Key::E, Action::Tool(Tool::Eraser)),
        ],
    },
    Shortcut {
        keys: "Find (text field)",
        what: "every instance of a concept, each its own mask (SAM 3)",
        bindings: &[],
    },
    Shortcut {
        keys: "Ctrl+Z",
        what: "undo the last mask or body edit",
        bindings: &[Binding { chord: Chord::Command { key: egui::Key::Z, shift: false }, action: Action::Undo }],
    },
    Shortcut {
        keys: "Ctrl+Shift+Z",
        what: "redo",
        bindings: &[Binding { chord: Chord::Command { key: egui::Key::Z, shift: true }, action: Action::Redo }],
    },
    Shortcut {
        keys: "Delete",
        what: "delete the selected mask",
        bindings: &[plain(egui::Key::Delete, Action::DeleteMask)],
    },
    Shortcut { keys: "L", what: "lift the selected mask to 3D", bindings: &[plain(egui::Key::L, Action::LiftMask)] },
    Shortcut {
        keys: "B",
        what: "Bodies tab · M: Masks tab",
        bindings: &[
            plain(egui::Key::B, Action::Tab(SideTab::Bodies)),
            plain(egui::Key::M, Action::Tab(SideTab::Masks)),
        ],
    },
    Shortcut {
        keys: "1 / 2 / 3",
        what: "photo / split / 3D view",
        bindings: &[
            plain(egui::Key::Num1, Action::View(View::Photo)),
            plain(egui::Key::Num2, Action::View(View::Split)),
            plain(egui::Key::Num3, Action::View(View::ThreeD)),
        ],
    },
    Shortcut {
        keys: "D / A",
        what: "folder: next / previous photo (the dataset is saved after every edit)",
        bindings: &[plain(egui::Key::D, Action::NextImage), plain(egui::Key::A, Action::PreviousImage)],
    },
    Shortcut {
        keys: "1–9 (folder open)",
        what: "the class of the selected mask and of new masks (instead of the views)",
        bindings: &[],
    },
    Shortcut {
        keys: "Y · Shift+Y",
        what: "accept the selected pre-label · every pre-label of the photo",
        bindings: &[
            plain(egui::Key::Y, Action::AcceptPrelabel),
            Binding { chord: Chord::Shifted(egui::Key::Y), action: Action::AcceptAllPrelabels },
        ],
    },
    Shortcut {
        keys: "photo: wheel · middle-drag · F",
        what: "zoom to the cursor · pan · fit",
        bindings: &[plain(egui::Key::F, Action::FitPhoto)],
    },
    Shortcut { keys: "3D: drag · right-drag · wheel", what: "orbit · pan · zoom", bindings: &[] },
    Shortcut { keys: "3D: double-click", what: "frame everything", bindings: &[] },
    Shortcut {
        keys: "F1",
        what: "this help",
        bindings: &[Binding { chord: Chord::Any(egui::Key::F1), action: Action::ToggleHelp }],
    },
    Shortcut {
        keys: "drop a file",
        what: "photo, .ply, .glb, SAM 3D Body .npz or .carve project; a folder: label it",
        bindings: &[],
    },
    Shortcut {
        keys: "File menu",
        what: "projects (.carve), recent files, recover the autosaved session",
        bindings: &[],
    },
];

/// The keys 1..9.
const DIGITS: [egui::Key; 9] = [
    egui::Key::Num1,
    egui::Key::Num2,
    egui::Key::Num3,
    egui::Key::Num4,
    egui::Key::Num5,
    egui::Key::Num6,
    egui::Key::Num7,
    egui::Key::Num8,
    egui::Key::Num9,
];

/// Every binding, in table order.
fn bindings() -> impl Iterator<Item = &'static Binding> {
    SHORTCUTS.iter().flat_map(|s| s.bindings)
}

/// The key that triggers `action`, by name (e.g. "R"), for tooltips.
pub fn key_name(action: Action) -> Option<&'static str> {
    bindings().find(|b| b.action == action).map(|b| b.chord.key().name())
}

/// The actions whose keys were pressed this frame, in table order.
pub fn pressed(ctx: &egui::Context) -> Vec<Action> {
    let typing = ctx.egui_wants_keyboard_input();
    ctx.input(|i| bindings().filter(|b| b.chord.pressed(i, typing)).map(|b| b.action).collect())
}

impl CarveApp {
    /// Carries out the shortcuts pressed this frame.
    pub(super) fn shortcuts(&mut self, ctx: &egui::Context) {
        // With a folder open, the digits give classes instead of switching views.
        let classes = self.folder.is_some();
        if classes && !ctx.egui_wants_keyboard_input() {
            let digit = ctx
                .input(|i| DIGITS.iter().position(|&k| i.key_pressed(k) && !i.modifiers.command && !i.modifiers.alt));
            if let Some(d) = digit {
                self.class_key(&(d + 1).to_string());
            }
        }
        for action in pressed(ctx) {
            if classes && matches!(action, Action::View(_)) {
                continue;
            }
            self.apply(action);
        }
    }

    fn apply(&mut self, action: Action) {
        let body_tab = self.side_tab == SideTab::Bodies;
        match action {
            Action::Tool(tool) => self.canvas.tool = tool,
            Action::Undo => {
                if !(body_tab && self.bodies.undo()) {
                    self.workbench.undo();
                }
            }
            Action::Redo => {
                if !(body_tab && self.bodies.redo()) {
                    self.workbench.redo();
                }
            }
            Action::DeleteMask => {
                if let Some(i) = self.workbench.selected {
                    self.workbench.delete(i);
                }
            }
            Action::LiftMask => {
                if self.workbench.selected.is_some() && !self.workbench.busy() {
                    let started = self.workbench.lift_selected();
                    self.check(started);
                }
            }
            Action::Tab(tab) => self.side_tab = tab,
            Action::View(view) => self.view = view,
            Action::FitPhoto => self.canvas.fit(),
            Action::ToggleHelp => self.show_help = !self.show_help,
            Action::NextImage => {
                self.step_image(1);
            }
            Action::PreviousImage => {
                self.step_image(-1);
            }
            Action::AcceptPrelabel => {
                if let Some(i) = self.workbench.selected {
                    self.workbench.accept_prelabels(Some(i));
                }
            }
            Action::AcceptAllPrelabels => {
                let n = self.workbench.accept_prelabels(None);
                if n > 0 {
                    self.set_status(format!("{n} pre-labels accepted"));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The words of a help text ("photo: wheel · F" → photo, wheel, F).
    fn words(text: &str) -> Vec<&str> {
        text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).collect()
    }

    #[test]
    fn every_binding_is_named_in_its_help_row() {
        for row in SHORTCUTS {
            for b in row.bindings {
                let name = b.chord.key().name();
                let named = match b.chord {
                    Chord::Command { shift, .. } => {
                        row.keys == format!("Ctrl+{}{name}", if shift { "Shift+" } else { "" })
                    }
                    Chord::Shifted(_) => row.keys.contains(&format!("Shift+{name}")),
                    Chord::Plain(_) | Chord::Any(_) => {
                        words(row.keys).contains(&name) || words(row.what).contains(&name)
                    }
                };
                assert!(named, "{:?} is not named in the help row '{}: {}'", b.chord, row.keys, row.what);
            }
        }
    }

    #[test]
    fn no_two_bindings_share_keys_and_every_action_has_one() {
        let all: Vec<&Binding> = bindings().collect();
        for (i, a) in all.iter().enumerate() {
            for b in &all[i + 1..] {
                assert_ne!(a.chord, b.chord, "{:?} and {:?}", a.action, b.action);
            }
        }
        let actions = [
            Action::Tool(Tool::Prompt),
            Action::Tool(Tool::Brush),
            Action::Tool(Tool::Eraser),
            Action::Undo,
            Action::Redo,
            Action::DeleteMask,
            Action::LiftMask,
            Action::Tab(SideTab::Masks),
            Action::Tab(SideTab::Bodies),
            Action::View(View::Photo),
            Action::View(View::Split),
            Action::View(View::ThreeD),
            Action::FitPhoto,
            Action::ToggleHelp,
            Action::NextImage,
            Action::PreviousImage,
            Action::AcceptPrelabel,
            Action::AcceptAllPrelabels,
        ];
        for action in actions {
            assert!(key_name(action).is_some(), "{action:?} has no key");
        }
        assert_eq!(key_name(Action::Tool(Tool::Brush)), Some("R"));
        assert_eq!(key_name(Action::ToggleHelp), Some("F1"));
    }
}
