//! glTF 2.0 meshes: read `.glb`/`.gltf` with the `gltf` crate (every triangle primitive of the
//! default scene, node transforms applied, merged into one mesh), and write a binary `.glb` built
//! with `gltf-json` (positions, normals, optional vertex colours, indices).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use glam::{Mat3, Mat4, Vec3};
use gltf_json as json;
use json::validation::{Checked::Valid, USize64};

use super::{FileError, write_atomic};
use crate::geometry::Mesh;

/// Errors from reading a glTF file; each names the file.
#[derive(Debug, thiserror::Error)]
pub enum GltfError {
    #[error("{}: not a readable glTF/GLB file: {message}", path.display())]
    Parse { path: PathBuf, message: String },
    #[error("{}: {message}", path.display())]
    Content { path: PathBuf, message: String },
}

/// Reads every triangle primitive of the default scene (or all scenes) into one mesh in world
/// coordinates.
pub fn read_gltf(path: &Path) -> Result<Mesh, GltfError> {
    let (document, buffers, _images) =
        gltf::import(path).map_err(|e| GltfError::Parse { path: path.to_owned(), message: e.to_string() })?;
    let mut mesh = Mesh { colors: Some(Vec::new()), normals: Some(Vec::new()), ..Default::default() };
    let mut any_colors = false;
    let scenes: Vec<gltf::Scene> = match document.default_scene() {
        Some(s) => vec![s],
        None => document.scenes().collect(),
    };
    let mut stack: Vec<(gltf::Node, Mat4)> =
        scenes.iter().flat_map(|s| s.nodes().map(|n| (n, Mat4::IDENTITY)).collect::<Vec<_>>()).collect();
    while let Some((node, parent)) = stack.pop() {
        let world = parent * Mat4::from_cols_array_2d(&node.transform().matrix());
        if let Some(m) = node.mesh() {
            let normal_matrix = Mat3::from_mat4(world).inverse().transpose();
            for primitive in m.primitives().filter(|p| p.mode() == gltf::mesh::Mode::Triangles) {
                let reader = primitive.reader(|b| buffers.get(b.index()).map(|d| &d.0[..]));
                let Some(positions) = reader.read_positions() else { continue };
                let base = mesh.positions.len() as u32;
                let positions: Vec<[f32; 3]> =
                    positions.map(|p| world.transform_point3(Vec3::from_array(p)).to_array()).collect();
                let n = positions.len();
                let normals: Option<Vec<[f32; 3]>> = reader.read_normals().map(|it| {
                    it.map(|v| (normal_matrix * Vec3::from_array(v)).normalize_or(Vec3::Y).to_array()).collect()
                });
                let colors: Option<Vec<[f32; 4]>> = reader.read_colors(0).map(|c| c.into_rgba_f32().collect());
                any_colors |= colors.is_some();
                let indices: Vec<u32> = match reader.read_indices() {
                    Some(i) => i.into_u32().map(|i| i + base).collect(),
                    None => (base..base + n as u32).collect(),
                };
                let sub = Mesh {
                    positions: positions.clone(),
                    normals: None,
                    colors: None,
                    indices: indices.iter().map(|i| i - base).collect(),
                };
                let normals = normals.filter(|v| v.len() == n).unwrap_or_else(|| sub.compute_normals());
                mesh.positions.extend(positions);
                mesh.normals.get_or_insert_default().extend(normals);
                mesh.colors
                    .get_or_insert_default()
                    .extend(colors.filter(|c| c.len() == n).unwrap_or_else(|| vec![[1.0; 4]; n]));
                mesh.indices.extend(indices);
            }
        }
        stack.extend(node.children().map(|c| (c, world)));
    }
    if !any_colors {
        mesh.colors = None;
    }
    if mesh.positions.is_empty() {
        return Err(GltfError::Content { path: path.to_owned(), message: "no triangle mesh in the file".into() });
    }
    mesh.validate().map_err(|message| GltfError::Content { path: path.to_owned(), message })?;
    Ok(mesh)
}

fn pad4(bytes: &mut Vec<u8>, fill: u8) {
    while !bytes.len().is_multiple_of(4) {
        bytes.push(fill);
    }
}

/// Builds a GLB holding `mesh` (one node, one primitive).
pub fn glb_bytes(mesh: &Mesh) -> Result<Vec<u8>, String> {
    mesh.validate()?;
    let normals = mesh.normals.clone().unwrap_or_else(|| mesh.compute_normals());
    let mut bin: Vec<u8> = Vec::new();
    let mut views = Vec::new();
    let mut accessors = Vec::new();
    let mut push_view = |bin: &mut Vec<u8>, data: &[u8], target: json::buffer::Target| {
        let offset = bin.len();
        bin.extend_from_slice(data);
        pad4(bin, 0);
        views.push(json::buffer::View {
            buffer: json::Index::new(0),
            byte_length: USize64(data.len() as u64),
            byte_offset: Some(USize64(offset as u64)),
            byte_stride: None,
            name: None,
            target: Some(Valid(target)),
            extensions: None,
            extras: Default::default(),
        });
        json::Index::new(views.len() as u32 - 1)
    };
    let accessor = |view: json::Index<json::buffer::View>,
                    count: usize,
                    component: json::accessor::ComponentType,
                    type_: json::accessor::Type,
                    min: Option<json::Value>,
                    max: Option<json::Value>| json::Accessor {
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
    };
    let bounds = mesh.bounds().ok_or("the mesh has no finite vertex")?;
    let n = mesh.positions.len();
    let v = push_view(&mut bin, bytemuck::cast_slice(&mesh.positions), json::buffer::Target::ArrayBuffer);
    accessors.push(accessor(
        v,
        n,
        json::accessor::ComponentType::F32,
        json::accessor::Type::Vec3,
        Some(json::Value::from(bounds.min.to_array().to_vec())),
        Some(json::Value::from(bounds.max.to_array().to_vec())),
    ));
    let v = push_view(&mut bin, bytemuck::cast_slice(&normals), json::buffer::Target::ArrayBuffer);
    accessors.push(accessor(v, n, json::accessor::ComponentType::F32, json::accessor::Type::Vec3, None, None));
    let mut attributes = BTreeMap::new();
    attributes.insert(Valid(json::mesh::Semantic::Positions), json::Index::new(0));
    attributes.insert(Valid(json::mesh::Semantic::Normals), json::Index::new(1));
    if let Some(colors) = &mesh.colors {
        let v = push_view(&mut bin, bytemuck::cast_slice(colors), json::buffer::Target::ArrayBuffer);
        accessors.push(accessor(v, n, json::accessor::ComponentType::F32, json::accessor::Type::Vec4, None, None));
        attributes.insert(Valid(json::mesh::Semantic::Colors(0)), json::Index::new(accessors.len() as u32 - 1));
    }
    let v = push_view(&mut bin, bytemuck::cast_slice(&mesh.indices), json::buffer::Target::ElementArrayBuffer);
    accessors.push(accessor(
        v,
        mesh.indices.len(),
        json::accessor::ComponentType::U32,
        json::accessor::Type::Scalar,
        None,
        None,
    ));
    let indices = json::Index::new(accessors.len() as u32 - 1);
    let root = json::Root {
        asset: json::Asset { generator: Some(format!("Carve {}", env!("CARGO_PKG_VERSION"))), ..Default::default() },
        accessors,
        buffers: vec![json::Buffer {
            byte_length: USize64(bin.len() as u64),
            name: None,
            uri: None,
            extensions: None,
            extras: Default::default(),
        }],
        buffer_views: views,
        meshes: vec![json::Mesh {
            extensions: None,
            extras: Default::default(),
            name: Some("mesh".into()),
            primitives: vec![json::mesh::Primitive {
                attributes,
                extensions: None,
                extras: Default::default(),
                indices: Some(indices),
                material: None,
                mode: Valid(json::mesh::Mode::Triangles),
                targets: None,
            }],
            weights: None,
        }],
        nodes: vec![json::Node { mesh: Some(json::Index::new(0)), ..Default::default() }],
        scenes: vec![json::Scene {
            extensions: None,
            extras: Default::default(),
            name: None,
            nodes: vec![json::Index::new(0)],
        }],
        scene: Some(json::Index::new(0)),
        ..Default::default()
    };
    let mut json_bytes = root.to_vec().map_err(|e| e.to_string())?;
    pad4(&mut json_bytes, b' ');
    let glb = gltf::binary::Glb {
        header: gltf::binary::Header {
            magic: *b"glTF",
            version: 2,
            length: (12 + 8 + json_bytes.len() + 8 + bin.len()) as u32,
        },
        json: std::borrow::Cow::Owned(json_bytes),
        bin: Some(std::borrow::Cow::Owned(bin)),
    };
    glb.to_vec().map_err(|e| e.to_string())
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
