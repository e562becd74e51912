//! Background work reaching the window: each frame, before anything is drawn, finished
//! segmentations, lifts, body jobs and model loads are taken and their outcomes reported.
//! Nothing here draws.

use super::bodies::BodyEvent;
use super::workbench::Finished;
use super::{CarveApp, View};
use crate::core::task::Task;

/// How far a background task is.
#[derive(Clone, Debug, PartialEq)]
pub struct TaskProgress {
    pub label: String,
    /// 0..1.
    pub fraction: f32,
    pub message: String,
}

impl TaskProgress {
    pub fn of<T: Send + 'static>(task: &Task<T>) -> Self {
        let progress = task.progress();
        Self { label: task.label().to_owned(), fraction: progress.fraction(), message: progress.message() }
    }
}

impl CarveApp {
    /// Whether any background task runs.
    pub(super) fn busy(&self) -> bool {
        self.workbench.busy() || self.bodies.busy() || self.engine.busy()
    }

    /// Takes what finished in the background: masks (the workbench adds them itself), lifts, body
    /// jobs and model loads.
    pub(super) fn poll_tasks(&mut self) {
        for finished in self.workbench.poll() {
            match finished {
                Finished::Lifted { name, output } => {
                    self.set_status(format!("{name} lifted ({})", output.engine));
                    self.lift.lifted = Some(super::lift_panel::Lifted { name, output });
                    self.lift.scene = None;
                    self.show_lift(true);
                    if self.view == View::Photo {
                        self.view = View::Split;
                    }
                }
                Finished::LiftedScene(scene) => {
                    self.set_status(format!(
                        "{} objects lifted into one scene ({})",
                        scene.objects.len(),
                        scene.engine
                    ));
                    self.lift.lifted = None;
                    self.lift.scene = Some(scene);
                    self.show_lift(true);
                    if self.view == View::Photo {
                        self.view = View::Split;
                    }
                }
                Finished::Failed(e) => self.show_error(e),
            }
        }
        for event in self.bodies.poll() {
            match event {
                BodyEvent::Loaded(name) => self.set_status(format!("{name} loaded")),
                BodyEvent::Fitted { iou_hint } => self.set_status(format!("body fitted ({iou_hint})")),
                BodyEvent::Failed(e) => self.show_error(e),
            }
        }
        match self.engine.poll() {
            None => {}
            Some(Ok(Ok(segmenter))) => {
                let kind = segmenter.engine();
                self.workbench.set_segmenter(segmenter);
                self.show_notice(format!("engine: {}", kind.as_str()));
            }
            Some(Ok(Err(e))) => self.show_error(format!("model not loaded, the current engine stays: {e}")),
            Some(Err(crashed)) => self.show_error(crashed),
        }
    }
}
