//! The rig file (`.rig.safetensors`, documented in `docs/RIG_FORMAT.md`): [`Rig::to_bytes`],
//! [`Rig::save`] (atomic), [`Rig::load`] and [`Rig::from_bytes`], which checks every tensor's
//! name, dtype and shape before use and validates the whole rig.

use std::collections::HashMap;
use std::path::Path;

use safetensors::{Dtype, SafeTensors, tensor::TensorView};

use super::BodyError;
use super::lod::LodMap;
use super::rig::*;

fn bytes_of<T: bytemuck::Pod>(v: &[T]) -> &[u8] {
    bytemuck::cast_slice(v)
}

impl Rig {
    /// Serialises the rig to the safetensors rig file format.
    pub fn to_bytes(&self) -> Result<Vec<u8>, BodyError> {
        let (j, v, p) = (self.joint_count(), self.vertex_count(), self.parameter_count());
        let k = self.influences;
        let tri_i32: Vec<i32> = self.triangles.iter().flatten().map(|&x| x as i32).collect();
        let skin_i32: Vec<i32> = self.skin_joints.iter().map(|&x| x as i32).collect();
        let kp_i32: Vec<i32> = self.keypoint_joints.iter().map(|&x| x as i32).collect();
        let rest: Vec<f32> = self.rest_vertices.concat();
        let offsets: Vec<f32> = self.joint_offsets.concat();
        let pre: Vec<f32> = self.joint_pre_rotations.concat();
        let mut owned: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = vec![
            ("mesh.rest_vertices".into(), Dtype::F32, vec![v, 3], bytes_of(&rest).to_vec()),
            ("mesh.triangles".into(), Dtype::I32, vec![self.triangles.len(), 3], bytes_of(&tri_i32).to_vec()),
            ("skeleton.parents".into(), Dtype::I32, vec![j], bytes_of(&self.parents).to_vec()),
            ("skeleton.offsets".into(), Dtype::F32, vec![j, 3], bytes_of(&offsets).to_vec()),
            ("skeleton.pre_rotations".into(), Dtype::F32, vec![j, 4], bytes_of(&pre).to_vec()),
            (
                "parameter_transform.matrix".into(),
                Dtype::F32,
                vec![j * JOINT_PARAMS, p],
                bytes_of(&self.parameter_transform).to_vec(),
            ),
            (
                "parameter_transform.offsets".into(),
                Dtype::F32,
                vec![j * JOINT_PARAMS],
                bytes_of(&self.parameter_offsets).to_vec(),
            ),
            ("skin.joints".into(), Dtype::I32, vec![v, k], bytes_of(&skin_i32).to_vec()),
            ("skin.weights".into(), Dtype::F32, vec![v, k], bytes_of(&self.skin_weights).to_vec()),
            (
                "blendshapes.identity".into(),
                Dtype::F32,
                vec![self.identity_names.len(), v, 3],
                bytes_of(&self.identity).to_vec(),
            ),
            (
                "blendshapes.expression".into(),
                Dtype::F32,
                vec![self.expression_names.len(), v, 3],
                bytes_of(&self.expression).to_vec(),
            ),
            ("keypoints.joints".into(), Dtype::I32, vec![self.keypoint_joints.len()], bytes_of(&kp_i32).to_vec()),
        ];
        if let Some(c) = &self.correctives {
            let cj: Vec<i32> = c.joints.iter().map(|&x| x as i32).collect();
            let idx: Vec<i32> = c.w0.iter().flat_map(|&(r, col, _)| [r as i32, col as i32]).collect();
            let val: Vec<f32> = c.w0.iter().map(|e| e.2).collect();
            owned.push(("correctives.joints".into(), Dtype::I32, vec![cj.len()], bytes_of(&cj).to_vec()));
            owned.push(("correctives.w0_indices".into(), Dtype::I32, vec![c.w0.len(), 2], bytes_of(&idx).to_vec()));
            owned.push(("correctives.w0_values".into(), Dtype::F32, vec![c.w0.len()], bytes_of(&val).to_vec()));
            owned.push(("correctives.w1".into(), Dtype::F32, vec![c.hidden, v * 3], bytes_of(&c.w1).to_vec()));
        }
        for e in &self.lods {
            let ids: Vec<i32> = e.map.triangle_ids.iter().map(|&x| x as i32).collect();
            let bary: Vec<f64> = e.map.barycentric.concat();
            let tris: Vec<i32> = e.triangles.iter().flatten().map(|&x| x as i32).collect();
            owned.push((format!("lod{}.triangle_ids", e.lod), Dtype::I32, vec![ids.len()], bytes_of(&ids).to_vec()));
            owned.push((format!("lod{}.barycentric", e.lod), Dtype::F64, vec![ids.len(), 3], bytes_of(&bary).to_vec()));
            owned.push((
                format!("lod{}.triangles", e.lod),
                Dtype::I32,
                vec![e.triangles.len(), 3],
                bytes_of(&tris).to_vec(),
            ));
        }
        let groups: Vec<serde_json::Value> =
            self.parameter_groups.iter().map(|(n, idx)| serde_json::json!({"name": n, "parameters": idx})).collect();
        let metadata: HashMap<String, String> = [
            ("format", FORMAT.to_string()),
            ("version", FORMAT_VERSION.to_string()),
            ("name", self.name.clone()),
            ("metres_per_unit", self.metres_per_unit.to_string()),
            ("base_lod", self.base_lod.to_string()),
            ("influences", k.to_string()),
            ("joint_names", serde_json::to_string(&self.joint_names).unwrap_or_default()),
            ("parameter_names", serde_json::to_string(&self.parameter_names).unwrap_or_default()),
            ("parameter_groups", serde_json::Value::Array(groups).to_string()),
            ("parameter_limits", serde_json::to_string(&self.parameter_limits).unwrap_or_default()),
            ("identity_names", serde_json::to_string(&self.identity_names).unwrap_or_default()),
            ("expression_names", serde_json::to_string(&self.expression_names).unwrap_or_default()),
            ("corrective_hidden", self.correctives.as_ref().map_or(0, |c| c.hidden).to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let views: Vec<(String, TensorView<'_>)> = owned
            .iter()
            .map(|(name, dtype, shape, data)| TensorView::new(*dtype, shape.clone(), data).map(|t| (name.clone(), t)))
            .collect::<Result<_, _>>()
            .map_err(|e| BodyError::Invalid(format!("rig serialisation: {e}")))?;
        safetensors::serialize(views, Some(metadata)).map_err(|e| BodyError::Invalid(format!("rig serialisation: {e}")))
    }

    /// Writes the rig file atomically.
    pub fn save(&self, path: &Path) -> Result<(), BodyError> {
        let bytes = self.to_bytes()?;
        crate::core::fs::write_atomic(path, &bytes)?;
        Ok(())
    }

    /// Reads and validates a rig file.
    pub fn load(path: &Path) -> Result<Rig, BodyError> {
        let bytes = crate::core::fs::read_input(path, crate::core::fs::InputLimit::Data)
            .map_err(|e| BodyError::File { path: path.to_owned(), message: e.source.to_string() })?;
        Self::from_bytes(&bytes, path)
    }

    /// Parses a rig file already in memory; `path` names it in errors.
    pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<Rig, BodyError> {
        let err = |m: String| BodyError::File { path: path.to_owned(), message: m };
        let st = SafeTensors::deserialize(bytes).map_err(|e| err(format!("not a safetensors rig file: {e}")))?;
        let (_, header) =
            SafeTensors::read_metadata(bytes).map_err(|e| err(format!("not a safetensors rig file: {e}")))?;
        let meta = header.metadata().clone().unwrap_or_default();
        let get = |k: &str| meta.get(k).cloned().ok_or_else(|| err(format!("metadata '{k}' is missing")));
        if get("format")? != FORMAT {
            return Err(err(format!("metadata 'format' is not '{FORMAT}'")));
        }
        let version: u32 = get("version")?.parse().map_err(|_| err("metadata 'version' is not a number".into()))?;
        if version > FORMAT_VERSION {
            return Err(err(format!("rig format version {version} is newer than this Carve ({FORMAT_VERSION})")));
        }
        let json_list = |k: &str| -> Result<Vec<String>, BodyError> {
            serde_json::from_str(&get(k)?).map_err(|e| err(format!("metadata '{k}': {e}")))
        };
        let number = |k: &str| -> Result<f64, BodyError> {
            get(k)?.parse::<f64>().map_err(|_| err(format!("metadata '{k}' is not a number")))
        };
        let reader = TensorReader { st: &st, path };
        let joint_names = json_list("joint_names")?;
        let parameter_names = json_list("parameter_names")?;
        let groups: Vec<serde_json::Value> = serde_json::from_str(&get("parameter_groups")?)
            .map_err(|e| err(format!("metadata 'parameter_groups': {e}")))?;
        let parameter_groups = groups
            .iter()
            .map(|g| {
                let name = g["name"].as_str().unwrap_or("").to_string();
                let idx: Vec<u32> = g["parameters"]
                    .as_array()
                    .map(|a| a.iter().filter_map(|x| x.as_u64()).map(|x| x as u32).collect())
                    .unwrap_or_default();
                (name, idx)
            })
            .collect::<Vec<_>>();
        if parameter_groups.iter().flat_map(|g| &g.1).any(|&i| i as usize >= parameter_names.len()) {
            return Err(err("a parameter group names a parameter that does not exist".into()));
        }
        let influences = number("influences")? as usize;
        let hidden = number("corrective_hidden")? as usize;
        let rest = reader.f32("mesh.rest_vertices", &[None, Some(3)])?;
        let v = rest.len() / 3;
        let correctives = if st.names().contains(&"correctives.w1") {
            let joints = reader.u32("correctives.joints", &[None])?;
            let idx = reader.u32("correctives.w0_indices", &[None, Some(2)])?;
            let vals = reader.f32("correctives.w0_values", &[Some(idx.len() / 2)])?;
            let w1 = reader.f32("correctives.w1", &[Some(hidden), Some(v * 3)])?;
            Some(Correctives {
                joints,
                w0: idx.chunks_exact(2).zip(vals).map(|(rc, x)| (rc[0], rc[1], x)).collect(),
                hidden,
                w1,
            })
        } else {
            None
        };
        let mut lods = Vec::new();
        for lod in 0..super::lod::LOD_VERTEX_COUNTS.len() {
            let key = format!("lod{lod}.triangle_ids");
            if !st.names().contains(&key.as_str()) {
                continue;
            }
            let ids = reader.u32(&key, &[None])?;
            let bary = reader.f64(&format!("lod{lod}.barycentric"), &[Some(ids.len()), Some(3)])?;
            let tris = reader.u32(&format!("lod{lod}.triangles"), &[None, Some(3)])?;
            lods.push(LodEntry {
                lod,
                map: LodMap {
                    triangle_ids: ids,
                    barycentric: bary.chunks_exact(3).map(|c| [c[0], c[1], c[2]]).collect(),
                },
                triangles: tris.chunks_exact(3).map(|c| [c[0], c[1], c[2]]).collect(),
            });
        }
        let j = joint_names.len();
        let rig = Rig {
            name: get("name")?,
            metres_per_unit: number("metres_per_unit")? as f32,
            parents: reader.i32("skeleton.parents", &[Some(j)])?,
            joint_offsets: triples(&reader.f32("skeleton.offsets", &[Some(j), Some(3)])?),
            joint_pre_rotations: reader
                .f32("skeleton.pre_rotations", &[Some(j), Some(4)])?
                .chunks_exact(4)
                .map(|c| [c[0], c[1], c[2], c[3]])
                .collect(),
            joint_names,
            parameter_transform: reader
                .f32("parameter_transform.matrix", &[Some(j * JOINT_PARAMS), Some(parameter_names.len())])?,
            parameter_offsets: reader.f32("parameter_transform.offsets", &[Some(j * JOINT_PARAMS)])?,
            parameter_limits: match meta.get("parameter_limits") {
                Some(text) => {
                    serde_json::from_str(text).map_err(|e| err(format!("metadata 'parameter_limits': {e}")))?
                }
                None => vec![[-std::f32::consts::PI, std::f32::consts::PI]; parameter_names.len()],
            },
            parameter_names,
            parameter_groups,
            base_lod: number("base_lod")? as usize,
            rest_vertices: triples(&rest),
            triangles: reader
                .u32("mesh.triangles", &[None, Some(3)])?
                .chunks_exact(3)
                .map(|c| [c[0], c[1], c[2]])
                .collect(),
            influences,
            skin_joints: reader.u32("skin.joints", &[Some(v), Some(influences)])?,
            skin_weights: reader.f32("skin.weights", &[Some(v), Some(influences)])?,
            identity_names: json_list("identity_names")?,
            identity: reader.f32("blendshapes.identity", &[None, Some(v), Some(3)])?,
            expression_names: json_list("expression_names")?,
            expression: reader.f32("blendshapes.expression", &[None, Some(v), Some(3)])?,
            correctives,
            keypoint_joints: reader.u32("keypoints.joints", &[None])?,
            lods,
        };
        rig.validate(path)?;
        Ok(rig)
    }
}

fn triples(v: &[f32]) -> Vec<[f32; 3]> {
    v.chunks_exact(3).map(|c| [c[0], c[1], c[2]]).collect()
}

struct TensorReader<'a> {
    st: &'a SafeTensors<'a>,
    path: &'a Path,
}

impl TensorReader<'_> {
    fn view(&self, name: &str, shape: &[Option<usize>]) -> Result<TensorView<'_>, BodyError> {
        let err = |m: String| BodyError::File { path: self.path.to_owned(), message: m };
        let t = self.st.tensor(name).map_err(|_| err(format!("tensor '{name}' is missing")))?;
        let ok = t.shape().len() == shape.len() && t.shape().iter().zip(shape).all(|(g, w)| w.is_none_or(|w| w == *g));
        if !ok {
            return Err(err(format!("tensor '{name}' has shape {:?}, expected {:?}", t.shape(), shape)));
        }
        Ok(t)
    }
    fn f32(&self, name: &str, shape: &[Option<usize>]) -> Result<Vec<f32>, BodyError> {
        let t = self.view(name, shape)?;
        match t.dtype() {
            Dtype::F32 => Ok(t.data().chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()),
            Dtype::F64 => Ok(t.data().chunks_exact(8).map(|c| bytemuck::pod_read_unaligned::<f64>(c) as f32).collect()),
            d => Err(self.dtype_error(name, d, "F32")),
        }
    }
    fn f64(&self, name: &str, shape: &[Option<usize>]) -> Result<Vec<f64>, BodyError> {
        let t = self.view(name, shape)?;
        match t.dtype() {
            Dtype::F64 => Ok(t.data().chunks_exact(8).map(bytemuck::pod_read_unaligned::<f64>).collect()),
            Dtype::F32 => {
                Ok(t.data().chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f64).collect())
            }
            d => Err(self.dtype_error(name, d, "F64")),
        }
    }
    fn i32(&self, name: &str, shape: &[Option<usize>]) -> Result<Vec<i32>, BodyError> {
        let t = self.view(name, shape)?;
        match t.dtype() {
            Dtype::I32 => Ok(t.data().chunks_exact(4).map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()),
            Dtype::I64 => Ok(t.data().chunks_exact(8).map(|c| bytemuck::pod_read_unaligned::<i64>(c) as i32).collect()),
            d => Err(self.dtype_error(name, d, "I32")),
        }
    }
    fn u32(&self, name: &str, shape: &[Option<usize>]) -> Result<Vec<u32>, BodyError> {
        let v = self.i32(name, shape)?;
        if v.iter().any(|&x| x < 0) {
            return Err(BodyError::File {
                path: self.path.to_owned(),
                message: format!("tensor '{name}' has negative indices"),
            });
        }
        Ok(v.into_iter().map(|x| x as u32).collect())
    }
    fn dtype_error(&self, name: &str, got: Dtype, want: &str) -> BodyError {
        BodyError::File { path: self.path.to_owned(), message: format!("tensor '{name}' is {got:?}, expected {want}") }
    }
}
