//! A TorchScript body model as a rig source in its own right: the official `mhr_model.pt`
//! (a trace of MHR at LOD 1: `forward(identity [B,45], model [B,204], expression [B,72])` →
//! `(vertices [B,V,3] in centimetres, skeleton state [B,127,8])`), or any module with the same
//! signature, evaluated through tch. Other LODs follow through the official barycentric maps.

use std::path::{Path, PathBuf};

use tch::{IValue, Kind, Tensor};

use super::BodyError;

/// Parameter counts of the official MHR model.
pub const MHR_IDENTITY: usize = 45;
pub const MHR_MODEL: usize = 204;
pub const MHR_EXPRESSION: usize = 72;

/// A loaded TorchScript body model.
pub struct TorchScriptBody {
    pub path: PathBuf,
    module: tch::CModule,
}

/// One evaluation: posed vertices (model units) and per-joint world translations.
#[derive(Clone, Debug)]
pub struct TorchScriptOutput {
    pub vertices: Vec<[f32; 3]>,
    pub joint_translations: Vec<[f32; 3]>,
}

impl TorchScriptBody {
    pub fn load(path: &Path) -> Result<Self, BodyError> {
        let module = tch::CModule::load_on_device(path, tch::Device::Cpu).map_err(|e| BodyError::File {
            path: path.to_owned(),
            message: format!("not a TorchScript body model: {}", e.to_string().lines().next().unwrap_or_default()),
        })?;
        Ok(Self { path: path.to_owned(), module })
    }

    /// Runs the model on tensors as they come out of a network (`[1, 45]`, `[1, 204]`, `[1, 72]`)
    /// and returns its raw outputs: vertices `[1, V, 3]` (model units) and skeleton state
    /// `[1, J, 8]` — what SAM 3D Body's loop feeds back between its layers.
    pub fn forward_tensors(
        &self,
        identity: &Tensor,
        model: &Tensor,
        expression: &Tensor,
    ) -> Result<(Tensor, Tensor), BodyError> {
        let err = |m: String| BodyError::File { path: self.path.clone(), message: m };
        let inputs = [identity, model, expression].map(|t| IValue::Tensor(t.shallow_clone()));
        let out = tch::no_grad(|| self.module.forward_is(&inputs))
            .map_err(|e| err(format!("evaluation failed: {}", e.to_string().lines().next().unwrap_or_default())))?;
        let mut parts = match out {
            IValue::Tuple(p) | IValue::GenericList(p) => p,
            _ => return Err(err("the model returned no (vertices, skeleton state) tuple".into())),
        };
        if parts.len() < 2 {
            return Err(err(format!(
                "the model returned {} outputs, expected (vertices, skeleton state)",
                parts.len()
            )));
        }
        let take = |v: IValue, what: &str, last: i64| match v {
            IValue::Tensor(t) if t.dim() == 3 && t.size()[0] == 1 && t.size()[2] == last => Ok(t),
            IValue::Tensor(t) => Err(err(format!("{what} has shape {:?}, expected [1, N, {last}]", t.size()))),
            _ => Err(err(format!("{what} is not a tensor"))),
        };
        let skeleton = take(parts.remove(1), "the skeleton state", 8)?;
        let vertices = take(parts.remove(0), "the vertices", 3)?;
        Ok((vertices, skeleton))
    }

    /// Runs the model on one body.
    pub fn evaluate(
        &self,
        identity: &[f32],
        model: &[f32],
        expression: &[f32],
    ) -> Result<TorchScriptOutput, BodyError> {
        let err = |m: String| BodyError::File { path: self.path.clone(), message: m };
        if let Some(v) = identity.iter().chain(model).chain(expression).find(|v| !v.is_finite()) {
            return Err(BodyError::Invalid(format!("a body parameter is {v}")));
        }
        let row = |v: &[f32]| IValue::Tensor(Tensor::from_slice(v).view([1, v.len() as i64]));
        let inputs = [row(identity), row(model), row(expression)];
        let out = tch::no_grad(|| self.module.forward_is(&inputs))
            .map_err(|e| err(format!("evaluation failed: {}", e.to_string().lines().next().unwrap_or_default())))?;
        let parts = match out {
            IValue::Tuple(p) | IValue::GenericList(p) => p,
            IValue::Tensor(t) => vec![IValue::Tensor(t)],
            _ => return Err(err("the model returned neither a tensor nor a tuple".into())),
        };
        let tensor = |i: usize| -> Option<Tensor> {
            match parts.get(i) {
                Some(IValue::Tensor(t)) => Some(t.to_kind(Kind::Float).contiguous()),
                _ => None,
            }
        };
        let rows3 = |t: &Tensor, what: &str| -> Result<Vec<[f32; 3]>, BodyError> {
            let size = t.size();
            if size.len() != 3 || size[0] != 1 || size[2] < 3 {
                return Err(err(format!("{what} has shape {size:?}, expected [1, N, ≥3]")));
            }
            let t = t.narrow(2, 0, 3).contiguous();
            let v = Vec::<f32>::try_from(t.view([-1])).map_err(|e| err(e.to_string()))?;
            Ok(v.chunks_exact(3).map(|c| [c[0], c[1], c[2]]).collect())
        };
        let vertices = rows3(&tensor(0).ok_or_else(|| err("no vertex tensor in the output".into()))?, "vertices")?;
        let joint_translations = match tensor(1) {
            Some(t) => rows3(&t, "skeleton state")?,
            None => Vec::new(),
        };
        Ok(TorchScriptOutput { vertices, joint_translations })
    }
}
