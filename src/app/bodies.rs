//! The window's body state without any UI: the demo rig (loaded in the background) or an imported
//! SAM 3D Body output, the LOD shown, parameter edits with undo/redo, fitting to a mask and SAM 3D
//! Body on the photo ("Body from photo") as background tasks, and the meshes the viewport and the
//! photo overlay draw.

use std::path::Path;
use std::sync::Arc;

use crate::app::history::History;
use crate::app::tasks::TaskProgress;
use crate::body::fit::{FitOptions, FitResult};
use crate::body::lod::{LOD_VERTEX_COUNTS, MhrLods};
use crate::body::sam3d::{Intrinsics, Sam3dBody};
use crate::body::{BodyError, BodyParams, Evaluator, Rig};
use crate::core::geometry::{LineSet, Mesh};
use crate::core::mask::Mask;
use crate::core::task::Task;

/// Where a fit placed the rig: the photo's camera and the rig's translation in it (metres).
#[derive(Clone, Copy, Debug)]
pub struct Placement {
    pub intrinsics: Intrinsics,
    pub camera_translation: [f32; 3],
}

/// What the body panel holds.
pub enum Body {
    /// A rig posed by parameters (the demo rig, or a fitted one), optionally placed in the photo's
    /// camera by a fit.
    Rig { rig: Arc<Rig>, params: BodyParams, evaluator: Box<Evaluator>, placement: Option<Placement> },
    /// A SAM 3D Body output: fixed vertices in its camera.
    Imported { person: Box<Sam3dBody>, intrinsics: Intrinsics },
}

enum Job {
    Load(Task<Result<Rig, BodyError>>),
    Fit(Task<Result<FitResult, BodyError>>),
    Predict(Task<Result<(Sam3dBody, Intrinsics), BodyError>>),
}

/// Bodies for one window.
pub struct BodyBench {
    pub body: Option<Body>,
    pub lod: usize,
    pub show_skeleton: bool,
    /// Bumped whenever the body's mesh changes (the UI re-uploads it).
    pub generation: u64,
    job: Option<Job>,
    /// Parameters before each edit of a rig.
    history: History<BodyParams>,
    /// The rig file, for rigs loaded from one.
    pub rig_path: Option<std::path::PathBuf>,
}

impl Default for BodyBench {
    fn default() -> Self {
        Self {
            body: None,
            lod: 1,
            show_skeleton: true,
            generation: 0,
            job: None,
            history: History::default(),
            rig_path: None,
        }
    }
}

/// Why a fit could not start.
#[derive(Debug, thiserror::Error)]
pub enum FitError {
    #[error("a body task is already running")]
    Busy,
    #[error("load the demo body first (Bodies → Demo body)")]
    NoRig,
    #[error("the selected mask is empty")]
    EmptyMask,
}

/// Vertex and triangle counts of a mesh.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MeshCounts {
    pub vertices: usize,
    pub triangles: usize,
}

/// The body for the 3D view.
pub struct BodyScene {
    /// Metres; rig frame (y up) or, for bodies placed in a camera, the OpenCV camera frame.
    pub mesh: Mesh,
    pub skeleton: Option<LineSet>,
    /// Whether y points down (placed in a camera, OpenCV axes).
    pub y_down: bool,
}

/// The camera a body is placed in: the image size (from the principal point) and intrinsics.
#[derive(Clone, Copy, Debug)]
pub struct BodyCamera {
    pub width_px: u32,
    pub height_px: u32,
    pub intrinsics: Intrinsics,
}

/// `Some(value)`, or `None` with the error logged: for views that simply show nothing when a body
/// cannot be evaluated.
fn logged<T, E: std::fmt::Display>(what: &str, result: Result<T, E>) -> Option<T> {
    result.map_err(|e| tracing::warn!("{what}: {e}")).ok()
}

/// A finished body job.
pub enum BodyEvent {
    Loaded(String),
    Fitted { iou_hint: String },
    Failed(String),
}

impl BodyBench {
    pub fn busy(&self) -> bool {
        self.job.is_some()
    }

    /// Progress of the running job.
    pub fn progress(&self) -> Option<TaskProgress> {
        Some(match self.job.as_ref()? {
            Job::Load(t) => TaskProgress::of(t),
            Job::Fit(t) => TaskProgress::of(t),
            Job::Predict(t) => TaskProgress::of(t),
        })
    }

    pub fn cancel(&self) {
        match &self.job {
            Some(Job::Load(t)) => t.cancel(),
            Some(Job::Fit(t)) => t.cancel(),
            Some(Job::Predict(t)) => t.cancel(),
            None => {}
        }
    }

    /// Loads the built-in demo rig in the background.
    pub fn load_demo(&mut self) {
        if self.job.is_none() {
            self.job = Some(Job::Load(Task::spawn("loading demo body", |_| crate::body::demo_rig::demo_rig())));
        }
    }

    /// Imports a SAM 3D Body `.npz` (fast, on the calling thread).
    pub fn import(&mut self, path: &Path) -> Result<(), BodyError> {
        let person = Sam3dBody::load(path)?;
        let (intrinsics, _, _) = person.solve_intrinsics()?;
        self.body = Some(Body::Imported { person: Box::new(person), intrinsics });
        self.history.clear();
        self.generation += 1;
        Ok(())
    }

    /// Fits the current rig (the demo rig when none) to `mask` seen by a camera with the
    /// photo's diagonal as focal length, in the background.
    pub fn fit(&mut self, mask: &Mask) -> Result<(), FitError> {
        if self.job.is_some() {
            return Err(FitError::Busy);
        }
        let Some(Body::Rig { rig, .. }) = &self.body else {
            return Err(FitError::NoRig);
        };
        if mask.area() == 0 {
            return Err(FitError::EmptyMask);
        }
        let rig = rig.clone();
        let mask = mask.clone();
        let (w, h) = (mask.width() as f64, mask.height() as f64);
        let k = Intrinsics { focal_px: (w * w + h * h).sqrt(), cx: w / 2.0, cy: h / 2.0 };
        self.job = Some(Job::Fit(Task::spawn("fitting body", move |progress| {
            crate::body::fit::fit(&rig, &mask, &Vec::new(), k, &FitOptions::default(), progress)
        })));
        Ok(())
    }

    /// SAM 3D Body on `photo` for the person in `mask` (its box and the mask itself as prompts),
    /// in the background: the first `sam3d_body` model folder on the search path, MHR from the
    /// `mhr_model.pt` in that folder, the official default camera.
    pub fn predict_from_photo(&mut self, photo: &crate::core::image::Image, mask: &Mask) -> Result<(), FitError> {
        if self.job.is_some() {
            return Err(FitError::Busy);
        }
        let Some([x0, y0, x1, y1]) = mask.bbox() else {
            return Err(FitError::EmptyMask);
        };
        let (photo, mask) = (photo.clone(), mask.clone());
        let person_box = [f64::from(x0), f64::from(y0), f64::from(x1) + 1.0, f64::from(y1) + 1.0];
        self.job = Some(Job::Predict(Task::spawn("SAM 3D Body", move |progress| {
            use crate::body::predict::Sam3dBodyModel;
            let models = crate::model::discover(None).map_err(|e| BodyError::Invalid(e.to_string()))?;
            let folder =
                crate::model::registry::first_valid(&models, &crate::model::ModelKind::Sam3dBody).ok_or_else(|| {
                    BodyError::Invalid(
                        "no SAM 3D Body model found: make one with tools/export_sam3d_body.py and put it in the \
                         models folder (with the official mhr_model.pt beside its pieces)"
                            .into(),
                    )
                })?;
            let model = Sam3dBodyModel::load(&folder.path, crate::model::precision::PrecisionChoice::Auto)?;
            let mhr = crate::body::torchscript::TorchScriptBody::load(&folder.path.join("mhr_model.pt"))?;
            let inputs = model.crop_inputs(&photo, person_box, Some(&mask), None)?;
            let prediction = model.predict(&inputs, person_box, &mhr, progress)?;
            let k = &inputs.intrinsics;
            Ok((prediction.to_body()?, Intrinsics { focal_px: k[0][0], cx: k[0][2], cy: k[1][2] }))
        })));
        Ok(())
    }

    /// Takes finished jobs.
    pub fn poll(&mut self) -> Vec<BodyEvent> {
        let mut events = Vec::new();
        let finished = match &mut self.job {
            Some(Job::Load(t)) => t.try_take().map(|r| match r {
                Ok(Ok(rig)) => {
                    let name = rig.name.clone();
                    let rig = Arc::new(rig);
                    match Evaluator::new(rig.clone(), self.lod) {
                        Ok(evaluator) => {
                            let params = rig.zero_params();
                            self.body =
                                Some(Body::Rig { rig, params, evaluator: Box::new(evaluator), placement: None });
                            self.history.clear();
                            self.generation += 1;
                            BodyEvent::Loaded(name)
                        }
                        Err(e) => BodyEvent::Failed(e.to_string()),
                    }
                }
                Ok(Err(e)) => BodyEvent::Failed(e.to_string()),
                Err(e) => BodyEvent::Failed(e.to_string()),
            }),
            Some(Job::Fit(t)) => t.try_take().map(|r| match r {
                Ok(Ok(result)) => {
                    let loss = result.losses.last().copied().unwrap_or(f32::NAN);
                    if let Some(Body::Rig { params, placement, .. }) = &mut self.body {
                        self.history.record(params.clone());
                        *params = result.params;
                        *placement = Some(Placement {
                            intrinsics: result.intrinsics,
                            camera_translation: result.camera_translation,
                        });
                    }
                    self.generation += 1;
                    BodyEvent::Fitted { iou_hint: format!("final loss {loss:.4}") }
                }
                Ok(Err(e)) => BodyEvent::Failed(e.to_string()),
                Err(e) => BodyEvent::Failed(e.to_string()),
            }),
            Some(Job::Predict(t)) => t.try_take().map(|r| match r {
                Ok(Ok((person, intrinsics))) => {
                    self.body = Some(Body::Imported { person: Box::new(person), intrinsics });
                    self.history.clear();
                    self.generation += 1;
                    BodyEvent::Loaded("SAM 3D Body".into())
                }
                Ok(Err(e)) => BodyEvent::Failed(e.to_string()),
                Err(e) => BodyEvent::Failed(e.to_string()),
            }),
            None => None,
        };
        if let Some(e) = finished {
            self.job = None;
            events.push(e);
        }
        events
    }

    /// Shows another LOD (0–6).
    pub fn set_lod(&mut self, lod: usize) -> Result<(), BodyError> {
        crate::body::lod::check_lod(lod)?;
        if let Some(Body::Rig { rig, evaluator, .. }) = &mut self.body {
            **evaluator = Evaluator::new(rig.clone(), lod)?;
        }
        self.lod = lod;
        self.generation += 1;
        Ok(())
    }

    /// Vertex and triangle counts of the shown LOD.
    pub fn counts(&self) -> Option<MeshCounts> {
        match self.body.as_ref()? {
            Body::Rig { evaluator, .. } => {
                Some(MeshCounts { vertices: evaluator.lod.vertex_count(), triangles: evaluator.lod.triangles.len() })
            }
            Body::Imported { .. } => {
                let triangles = logged("LOD triangles", MhrLods::embedded().triangles(self.lod)).map_or(0, |t| t.len());
                Some(MeshCounts { vertices: LOD_VERTEX_COUNTS[self.lod], triangles })
            }
        }
    }

    /// Records the parameters before an edit (for undo).
    pub fn begin_edit(&mut self) {
        if let Some(Body::Rig { params, .. }) = &self.body {
            self.history.record(params.clone());
        }
    }

    /// The parameters changed (a slider moved).
    pub fn edited(&mut self) {
        self.generation += 1;
    }

    /// Takes the last parameter edit back; `false` when there is none (or no rig).
    pub fn undo(&mut self) -> bool {
        let Some(Body::Rig { params, .. }) = &mut self.body else { return false };
        let done = self.history.undo(|previous| std::mem::replace(params, previous));
        if done {
            self.generation += 1;
        }
        done
    }

    /// Applies the last undone parameter edit again.
    pub fn redo(&mut self) -> bool {
        let Some(Body::Rig { params, .. }) = &mut self.body else { return false };
        let done = self.history.redo(|next| std::mem::replace(params, next));
        if done {
            self.generation += 1;
        }
        done
    }

    /// The body for the 3D view and its skeleton.
    pub fn scene_mesh(&mut self) -> Option<BodyScene> {
        match self.body.as_mut()? {
            Body::Rig { rig, params, evaluator, placement } => {
                let posed = logged("posing the body", evaluator.evaluate(params))?.to_vec();
                let m = rig.metres_per_unit;
                let joints: Vec<[f32; 3]> = evaluator.joints_world().iter().map(|s| s.translation.to_array()).collect();
                let (vertices, joints, y_down) = match placement {
                    Some(p) => (
                        crate::body::fit::rig_to_camera(&posed, m, p.camera_translation),
                        crate::body::fit::rig_to_camera(&joints, m, p.camera_translation),
                        true,
                    ),
                    None => (
                        posed.iter().map(|p| [p[0] * m, p[1] * m, p[2] * m]).collect(),
                        joints.iter().map(|p| [p[0] * m, p[1] * m, p[2] * m]).collect(),
                        false,
                    ),
                };
                let mut mesh = crate::body::export::body_mesh(vertices, &evaluator.lod.triangles);
                mesh.colors = Some(vec![[0.55, 0.68, 0.86, 1.0]; mesh.positions.len()]);
                let skeleton =
                    self.show_skeleton.then(|| LineSet::skeleton(&joints, &rig.parents, [1.0, 0.8, 0.2, 1.0]));
                Some(BodyScene { mesh, skeleton, y_down })
            }
            Body::Imported { person, .. } => {
                let vertices = logged("body vertices", person.vertices(self.lod))?;
                let tris = logged("LOD triangles", MhrLods::embedded().triangles(self.lod))?;
                let mut mesh = crate::body::export::body_mesh(vertices, tris);
                mesh.colors = Some(vec![[0.55, 0.68, 0.86, 1.0]; mesh.positions.len()]);
                Some(BodyScene { mesh, skeleton: None, y_down: true })
            }
        }
    }

    /// The body drawn over `photo` when it is placed in a camera (imported or fitted).
    pub fn overlay(&mut self, photo: &image::RgbImage) -> Option<image::RgbImage> {
        type Drawn = (Intrinsics, Vec<[f32; 3]>, Vec<[u32; 3]>, Vec<[f32; 2]>);
        let (k, vertices, triangles, keypoints): Drawn = match self.body.as_mut()? {
            Body::Imported { person, intrinsics } => (
                *intrinsics,
                logged("body vertices", person.vertices(self.lod))?,
                logged("LOD triangles", MhrLods::embedded().triangles(self.lod))?.to_vec(),
                person.keypoints_2d.clone(),
            ),
            Body::Rig { rig, params, evaluator, placement: Some(p) } => {
                let posed = logged("posing the body", evaluator.evaluate(params))?.to_vec();
                (
                    p.intrinsics,
                    crate::body::fit::rig_to_camera(&posed, rig.metres_per_unit, p.camera_translation),
                    evaluator.lod.triangles.clone(),
                    Vec::new(),
                )
            }
            Body::Rig { placement: None, .. } => return None,
        };
        Some(crate::body::sam3d::overlay(photo, &vertices, &triangles, &k, &keypoints, &[]))
    }

    /// The camera the body is placed in (imported, or placed by a fit).
    pub fn camera(&self) -> Option<BodyCamera> {
        let k = match self.body.as_ref()? {
            Body::Imported { intrinsics, .. } => *intrinsics,
            Body::Rig { placement: Some(p), .. } => p.intrinsics,
            Body::Rig { placement: None, .. } => return None,
        };
        Some(BodyCamera {
            width_px: (k.cx * 2.0).round() as u32,
            height_px: (k.cy * 2.0).round() as u32,
            intrinsics: k,
        })
    }

    /// Exports the body: a skinned GLB for rigs, the posed mesh (glTF axes) for imported bodies.
    pub fn export_glb(&mut self, path: &Path) -> Result<(), BodyError> {
        match self.body.as_mut() {
            Some(Body::Rig { params, evaluator, .. }) => {
                let (mesh, skin) = crate::body::export::skinned_export(evaluator, params, true)?;
                crate::io::gltf::write_skinned_glb(path, &mesh, &skin)?;
            }
            Some(Body::Imported { person, .. }) => {
                let mut v = person.vertices(self.lod)?;
                crate::body::sam3d::opencv_to_gltf(&mut v);
                let mesh = crate::body::export::body_mesh(v, MhrLods::embedded().triangles(self.lod)?);
                crate::body::write_mesh(path, &mesh)?;
            }
            None => return Err(BodyError::Invalid("no body to export".into())),
        }
        Ok(())
    }

    /// The body as a project entry.
    pub fn to_project(&self) -> Option<crate::io::project::ProjectBody> {
        Some(match self.body.as_ref()? {
            Body::Rig { rig, params, placement, .. } => crate::io::project::ProjectBody {
                source: if rig.name.starts_with("Carve demo") { "demo".into() } else { "rig".into() },
                path: self.rig_path.clone(),
                lod: self.lod,
                model: params.model.clone(),
                identity: params.identity.clone(),
                expression: params.expression.clone(),
                placement: placement.map(|p| {
                    let k = p.intrinsics;
                    ([k.focal_px, k.cx, k.cy], p.camera_translation)
                }),
            },
            Body::Imported { person, .. } => crate::io::project::ProjectBody {
                source: "sam3d".into(),
                path: Some(person.path.clone()),
                lod: self.lod,
                model: Vec::new(),
                identity: Vec::new(),
                expression: Vec::new(),
                placement: None,
            },
        })
    }

    /// Restores a project's body (the demo rig is rebuilt, files are read again).
    pub fn restore(&mut self, b: &crate::io::project::ProjectBody) -> Result<(), BodyError> {
        crate::body::lod::check_lod(b.lod)?;
        self.lod = b.lod;
        match b.source.as_str() {
            "sam3d" => {
                let path = b.path.as_deref().ok_or_else(|| BodyError::Invalid("project body: no .npz path".into()))?;
                self.import(path)
            }
            source => {
                let rig = match (source, &b.path) {
                    ("rig", Some(p)) => Rig::load(p)?,
                    _ => crate::body::demo_rig::demo_rig()?,
                };
                let rig = Arc::new(rig);
                let mut params = rig.zero_params();
                if b.model.len() == params.model.len() {
                    params.model.clone_from(&b.model);
                }
                if b.identity.len() == params.identity.len() {
                    params.identity.clone_from(&b.identity);
                }
                if b.expression.len() == params.expression.len() {
                    params.expression.clone_from(&b.expression);
                }
                rig.check_params(&params)?;
                let evaluator = Box::new(Evaluator::new(rig.clone(), b.lod)?);
                let placement = b.placement.map(|(k, t)| Placement {
                    intrinsics: Intrinsics { focal_px: k[0], cx: k[1], cy: k[2] },
                    camera_translation: t,
                });
                self.rig_path = if source == "rig" { b.path.clone() } else { None };
                self.body = Some(Body::Rig { rig, params, evaluator, placement });
                self.history.clear();
                self.generation += 1;
                Ok(())
            }
        }
    }

    /// Waits for the running job (tests and the CLI).
    pub fn wait(&mut self) -> Vec<BodyEvent> {
        while self.job.is_some() {
            std::thread::sleep(std::time::Duration::from_millis(10));
            let events = self.poll();
            if !events.is_empty() {
                return events;
            }
        }
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lod_switch_changes_counts_and_undo_restores_params() {
        let mut b = BodyBench::default();
        b.load_demo();
        let events = b.wait();
        assert!(matches!(events.first(), Some(BodyEvent::Loaded(_))));
        assert_eq!(b.counts(), Some(MeshCounts { vertices: 18_439, triangles: 36_874 }));
        b.set_lod(5).unwrap();
        assert_eq!(b.counts(), Some(MeshCounts { vertices: 971, triangles: 1_938 }));
        assert!(b.set_lod(7).is_err());
        b.begin_edit();
        if let Some(Body::Rig { params, .. }) = &mut b.body {
            params.model[10] = 0.7;
        }
        b.edited();
        assert!(b.undo());
        let Some(Body::Rig { params, .. }) = &b.body else { panic!("a rig") };
        assert_eq!(params.model[10], 0.0);
        assert!(b.redo());
        let scene = b.scene_mesh().unwrap();
        assert_eq!(scene.mesh.positions.len(), 971);
        assert!(scene.skeleton.is_some() && !scene.y_down);
        // A fit needs a non-empty mask and no running job.
        assert!(matches!(b.fit(&Mask::new(8, 8)), Err(FitError::EmptyMask)));
    }
}
