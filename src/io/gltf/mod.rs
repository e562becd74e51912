//! glTF 2.0 meshes: read `.glb`/`.gltf` ([`read_gltf`], in `read`: every triangle primitive of the
//! default scene, node transforms applied, merged into one mesh; a hostile file is refused before
//! the `gltf` crate's readers touch it), and write a binary `.glb` built with `gltf-json`
//! (positions, normals, optional vertex colours, indices).

mod read;
pub mod splats;

pub use read::read_gltf;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use gltf_json as json;
use json::validation::{Checked::Valid, USize64};

use crate::core::fs::{FileError, write_atomic};
use crate::core::geometry::Mesh;

/// Errors from reading a glTF file; each names the file.
#[derive(Debug, thiserror::Error)]
pub enum GltfError {
    #[error("{}: not a readable glTF/GLB file: {message}", path.display())]
    Parse { path: PathBuf, message: String },
    #[error("{}: {message}", path.display())]
    Content { path: PathBuf, message: String },
}

/// Why a mesh (and skin) could not be turned into a GLB.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Geometry(#[from] crate::core::geometry::GeometryError),
    #[error("{0}")]
    Skin(String),
    #[error("cannot encode the glTF JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("cannot assemble the GLB: {0}")]
    Glb(#[from] gltf::Error),
}

fn pad4(bytes: &mut Vec<u8>, fill: u8) {
    while !bytes.len().is_multiple_of(4) {
        bytes.push(fill);
    }
}

/// A skeleton to export with a mesh: joint nodes with local TRS (posed), inverse bind matrices,
/// per-vertex influences and optional morph targets.
#[derive(Clone, Debug, Default)]
pub struct GltfSkin {
    pub joint_names: Vec<String>,
    /// Parent per joint (`-1` for a root); parents come before children.
    pub parents: Vec<i32>,
    pub translations: Vec<[f32; 3]>,
    /// xyzw.
    pub rotations: Vec<[f32; 4]>,
    /// Uniform scale per joint.
    pub scales: Vec<f32>,
    /// Column-major 4×4 per joint.
    pub inverse_bind: Vec<[f32; 16]>,
    /// Influences per vertex (1..=8); `joints` and `weights` hold `influences` entries per vertex.
    pub influences: usize,
    pub joints: Vec<u32>,
    pub weights: Vec<f32>,
    /// Morph targets: name and per-vertex position deltas.
    pub morph_targets: Vec<(String, Vec<[f32; 3]>)>,
}

/// A primitive's attributes by semantic.
type Attributes = BTreeMap<json::validation::Checked<json::mesh::Semantic>, json::Index<json::Accessor>>;

/// The binary chunk, buffer views and accessors of a GLB being built.
#[derive(Default)]
struct GlbParts {
    bin: Vec<u8>,
    views: Vec<json::buffer::View>,
    accessors: Vec<json::Accessor>,
}

impl GlbParts {
    /// Appends `data` as a buffer view (4-byte aligned).
    fn view(&mut self, data: &[u8], target: Option<json::buffer::Target>) -> json::Index<json::buffer::View> {
        let offset = self.bin.len();
        self.bin.extend_from_slice(data);
        pad4(&mut self.bin, 0);
        self.views.push(json::buffer::View {
            buffer: json::Index::new(0),
            byte_length: USize64(data.len() as u64),
            byte_offset: Some(USize64(offset as u64)),
            byte_stride: None,
            name: None,
            target: target.map(Valid),
            extensions: None,
            extras: Default::default(),
        });
        json::Index::new(self.views.len() as u32 - 1)
    }

    /// Appends an accessor over a whole view.
    fn accessor(
        &mut self,
        view: json::Index<json::buffer::View>,
        count: usize,
        component: json::accessor::ComponentType,
        type_: json::accessor::Type,
        min_max: Option<(json::Value, json::Value)>,
    ) -> json::Index<json::Accessor> {
        let (min, max) = min_max.unzip();
        self.accessors.push(json::Accessor {
            buffer_view: Some(view),
            byte_offset: Some(USize64(0)),
            count: USize64(count as u64),
            component_type: Valid(json::accessor::GenericComponentType(component)),
            extensions: None,
            extras: Default::default(),
            type_: Valid(type_),
            min,
            max,
            name: None,
            normalized: false,
            sparse: None,
        });
        json::Index::new(self.accessors.len() as u32 - 1)
    }

    /// Positions, normals (computed when absent), colours when present and indices of `mesh`.
    fn mesh_attributes(&mut self, mesh: &Mesh) -> Result<(Attributes, json::Index<json::Accessor>), ExportError> {
        use json::accessor::{ComponentType as C, Type as T};
        mesh.validate()?;
        let normals = mesh.normals.clone().unwrap_or_else(|| mesh.compute_normals());
        let bounds = mesh
            .bounds()
            .ok_or_else(|| crate::core::geometry::GeometryError("the mesh has no finite vertex".into()))?;
        let n = mesh.positions.len();
        let array = Some(json::buffer::Target::ArrayBuffer);
        let mut attributes = BTreeMap::new();
        let v = self.view(bytemuck::cast_slice(&mesh.positions), array);
        let min_max =
            (json::Value::from(bounds.min.to_array().to_vec()), json::Value::from(bounds.max.to_array().to_vec()));
        attributes.insert(Valid(json::mesh::Semantic::Positions), self.accessor(v, n, C::F32, T::Vec3, Some(min_max)));
        let v = self.view(bytemuck::cast_slice(&normals), array);
        attributes.insert(Valid(json::mesh::Semantic::Normals), self.accessor(v, n, C::F32, T::Vec3, None));
        if let Some(colors) = &mesh.colors {
            let v = self.view(bytemuck::cast_slice(colors), array);
            attributes.insert(Valid(json::mesh::Semantic::Colors(0)), self.accessor(v, n, C::F32, T::Vec4, None));
        }
        let v = self.view(bytemuck::cast_slice(&mesh.indices), Some(json::buffer::Target::ElementArrayBuffer));
        let indices = self.accessor(v, mesh.indices.len(), C::U32, T::Scalar, None);
        Ok((attributes, indices))
    }

    /// The GLB of `root` (whose buffers are set here) with this binary chunk.
    fn finish(self, mut root: json::Root) -> Result<Vec<u8>, ExportError> {
        root.asset =
            json::Asset { generator: Some(format!("Carve {}", env!("CARGO_PKG_VERSION"))), ..Default::default() };
        root.buffers = vec![json::Buffer {
            byte_length: USize64(self.bin.len() as u64),
            name: None,
            uri: None,
            extensions: None,
            extras: Default::default(),
        }];
        root.buffer_views = self.views;
        root.accessors = self.accessors;
        let mut json_bytes = root.to_vec()?;
        pad4(&mut json_bytes, b' ');
        let glb = gltf::binary::Glb {
            header: gltf::binary::Header {
                magic: *b"glTF",
                version: 2,
                length: (12 + 8 + json_bytes.len() + 8 + self.bin.len()) as u32,
            },
            json: std::borrow::Cow::Owned(json_bytes),
            bin: Some(std::borrow::Cow::Owned(self.bin)),
        };
        Ok(glb.to_vec()?)
    }
}

fn triangles(
    attributes: Attributes,
    indices: json::Index<json::Accessor>,
    targets: Option<Vec<json::mesh::MorphTarget>>,
) -> json::mesh::Primitive {
    json::mesh::Primitive {
        attributes,
        extensions: None,
        extras: Default::default(),
        indices: Some(indices),
        material: None,
        mode: Valid(json::mesh::Mode::Triangles),
        targets,
    }
}

/// Builds a GLB holding `mesh` (one node, one primitive).
pub fn glb_bytes(mesh: &Mesh) -> Result<Vec<u8>, ExportError> {
    glb_bytes_skinned(mesh, None)
}

/// Builds a GLB of a scene: one named node (and mesh) per object, in the same frame.
pub fn scene_glb_bytes(objects: &[(&str, &Mesh)]) -> Result<Vec<u8>, ExportError> {
    let mut parts = GlbParts::default();
    let mut meshes = Vec::new();
    let mut nodes = Vec::new();
    for (i, (name, mesh)) in objects.iter().enumerate() {
        let (attributes, indices) = parts.mesh_attributes(mesh)?;
        meshes.push(json::Mesh {
            extensions: None,
            extras: Default::default(),
            name: Some((*name).to_owned()),
            primitives: vec![triangles(attributes, indices, None)],
            weights: None,
        });
        nodes.push(json::Node {
            mesh: Some(json::Index::new(i as u32)),
            name: Some((*name).to_owned()),
            ..Default::default()
        });
    }
    let root = json::Root {
        meshes,
        scenes: vec![json::Scene {
            extensions: None,
            extras: Default::default(),
            name: Some("scene".into()),
            nodes: (0..nodes.len() as u32).map(json::Index::new).collect(),
        }],
        nodes,
        scene: Some(json::Index::new(0)),
        ..Default::default()
    };
    parts.finish(root)
}

/// Writes a scene GLB (a node per object), atomically.
pub fn write_scene_glb(path: &Path, objects: &[(&str, &Mesh)]) -> Result<(), FileError> {
    let bytes =
        scene_glb_bytes(objects).map_err(|m| FileError { path: path.to_owned(), source: std::io::Error::other(m) })?;
    write_atomic(path, &bytes)
}

/// Builds a GLB holding `mesh`, skinned to `skin` when given.
pub fn glb_bytes_skinned(mesh: &Mesh, skin: Option<&GltfSkin>) -> Result<Vec<u8>, ExportError> {
    use json::accessor::{ComponentType as C, Type as T};
    let mut parts = GlbParts::default();
    let (mut attributes, indices) = parts.mesh_attributes(mesh)?;
    let n = mesh.positions.len();
    let mut nodes = vec![json::Node { mesh: Some(json::Index::new(0)), ..Default::default() }];
    let mut scene_nodes = vec![json::Index::new(0)];
    let mut skins = Vec::new();
    let mut targets = None;
    let mut mesh_weights = None;
    let mut mesh_extras: json::extras::Extras = Default::default();
    if let Some(skin) = skin {
        let j = skin.parents.len();
        let k = skin.influences;
        if j == 0 || j > u16::MAX as usize || !(1..=8).contains(&k) {
            return Err(ExportError::Skin(format!("cannot export a skin of {j} joints with {k} influences")));
        }
        let lens = [
            skin.joint_names.len(),
            skin.translations.len(),
            skin.rotations.len(),
            skin.scales.len(),
            skin.inverse_bind.len(),
        ];
        if lens.iter().any(|&l| l != j) || skin.joints.len() != n * k || skin.weights.len() != n * k {
            return Err(ExportError::Skin("skin arrays disagree with the joint or vertex count".into()));
        }
        if skin.joints.iter().any(|&x| x as usize >= j) {
            return Err(ExportError::Skin("a skin influence names a joint that does not exist".into()));
        }
        // Influences in sets of 4: JOINTS_i / WEIGHTS_i.
        for set in 0..k.div_ceil(4) {
            let mut jj = vec![0u16; n * 4];
            let mut ww = vec![0.0f32; n * 4];
            for vtx in 0..n {
                for m in 0..4 {
                    let src = set * 4 + m;
                    if src < k {
                        jj[vtx * 4 + m] = skin.joints[vtx * k + src] as u16;
                        ww[vtx * 4 + m] = skin.weights[vtx * k + src].max(0.0);
                    }
                }
                // glTF wants each vertex's weights to sum to 1 over all sets.
                if set == 0 {
                    let total: f32 = skin.weights[vtx * k..(vtx + 1) * k].iter().sum();
                    if total <= 0.0 {
                        return Err(ExportError::Skin(format!("vertex {vtx} has no skin weight")));
                    }
                }
            }
            for vtx in 0..n {
                let total: f32 = skin.weights[vtx * k..(vtx + 1) * k].iter().map(|w| w.max(0.0)).sum();
                for m in 0..4 {
                    ww[vtx * 4 + m] /= total;
                    if ww[vtx * 4 + m] == 0.0 {
                        jj[vtx * 4 + m] = 0;
                    }
                }
            }
            let v = parts.view(bytemuck::cast_slice(&jj), Some(json::buffer::Target::ArrayBuffer));
            attributes
                .insert(Valid(json::mesh::Semantic::Joints(set as u32)), parts.accessor(v, n, C::U16, T::Vec4, None));
            let v = parts.view(bytemuck::cast_slice(&ww), Some(json::buffer::Target::ArrayBuffer));
            attributes
                .insert(Valid(json::mesh::Semantic::Weights(set as u32)), parts.accessor(v, n, C::F32, T::Vec4, None));
        }
        let v = parts.view(bytemuck::cast_slice(&skin.inverse_bind), None);
        let ibm = parts.accessor(v, j, C::F32, T::Mat4, None);
        // Joint nodes follow the mesh node.
        let first = nodes.len() as u32;
        for ji in 0..j {
            let children: Vec<json::Index<json::Node>> =
                (0..j).filter(|&c| skin.parents[c] == ji as i32).map(|c| json::Index::new(first + c as u32)).collect();
            let s = skin.scales[ji];
            nodes.push(json::Node {
                name: Some(skin.joint_names[ji].clone()),
                translation: Some(skin.translations[ji]),
                rotation: Some(json::scene::UnitQuaternion(skin.rotations[ji])),
                scale: Some([s, s, s]),
                children: if children.is_empty() { None } else { Some(children) },
                ..Default::default()
            });
            if skin.parents[ji] < 0 {
                scene_nodes.push(json::Index::new(first + ji as u32));
            }
        }
        skins.push(json::Skin {
            extensions: None,
            extras: Default::default(),
            inverse_bind_matrices: Some(ibm),
            joints: (0..j).map(|ji| json::Index::new(first + ji as u32)).collect(),
            name: Some("body".into()),
            skeleton: skin.parents.iter().position(|&p| p < 0).map(|r| json::Index::new(first + r as u32)),
        });
        nodes[0].skin = Some(json::Index::new(0));
        if !skin.morph_targets.is_empty() {
            let mut t = Vec::new();
            for (_, deltas) in &skin.morph_targets {
                if deltas.len() != n {
                    return Err(ExportError::Skin("a morph target does not cover every vertex".into()));
                }
                let b = crate::core::geometry::Bounds::of_points(deltas.iter())
                    .ok_or_else(|| ExportError::Skin("a morph target is not finite".into()))?;
                let v = parts.view(bytemuck::cast_slice(deltas), Some(json::buffer::Target::ArrayBuffer));
                let min_max =
                    (json::Value::from(b.min.to_array().to_vec()), json::Value::from(b.max.to_array().to_vec()));
                t.push(json::mesh::MorphTarget {
                    positions: Some(parts.accessor(v, n, C::F32, T::Vec3, Some(min_max))),
                    normals: None,
                    tangents: None,
                });
            }
            targets = Some(t);
            mesh_weights = Some(vec![0.0; skin.morph_targets.len()]);
            let names: Vec<&str> = skin.morph_targets.iter().map(|m| m.0.as_str()).collect();
            mesh_extras =
                Some(json::extras::RawValue::from_string(serde_json::json!({ "targetNames": names }).to_string())?);
        }
    }
    let root = json::Root {
        meshes: vec![json::Mesh {
            extensions: None,
            extras: mesh_extras,
            name: Some("mesh".into()),
            primitives: vec![triangles(attributes, indices, targets)],
            weights: mesh_weights,
        }],
        nodes,
        skins,
        scenes: vec![json::Scene { extensions: None, extras: Default::default(), name: None, nodes: scene_nodes }],
        scene: Some(json::Index::new(0)),
        ..Default::default()
    };
    parts.finish(root)
}

/// Writes `mesh` skinned to `skin` as a `.glb`, atomically.
pub fn write_skinned_glb(path: &Path, mesh: &Mesh, skin: &GltfSkin) -> Result<(), FileError> {
    let bytes = glb_bytes_skinned(mesh, Some(skin))
        .map_err(|m| FileError { path: path.to_owned(), source: std::io::Error::other(m) })?;
    write_atomic(path, &bytes)
}

/// Writes `mesh` as a `.glb`, atomically.
pub fn write_glb(path: &Path, mesh: &Mesh) -> Result<(), FileError> {
    let bytes = glb_bytes(mesh).map_err(|m| FileError { path: path.to_owned(), source: std::io::Error::other(m) })?;
    write_atomic(path, &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glb_round_trip() {
        let mesh = Mesh {
            positions: vec![[0.0; 3], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]],
            normals: None,
            colors: Some(vec![[1.0, 0.0, 0.0, 1.0], [0.0, 1.0, 0.0, 1.0], [0.0, 0.0, 1.0, 1.0], [1.0; 4]]),
            indices: vec![0, 2, 1, 0, 1, 3, 0, 3, 2, 1, 2, 3],
        };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.glb");
        write_glb(&path, &mesh).unwrap();
        let back = read_gltf(&path).unwrap();
        assert_eq!(back.positions, mesh.positions);
        assert_eq!(back.indices, mesh.indices);
        assert_eq!(back.colors, mesh.colors);
        std::fs::write(&path, b"glTF garbage").unwrap();
        assert!(read_gltf(&path).unwrap_err().to_string().contains("t.glb"));
    }
}
