//! Reading glTF/GLB for viewing and rendering. The `gltf` crate parses and validates the JSON
//! (indices in range), but its `import` reads any URI (absolute paths, `..`, `file://`, FIFOs),
//! decodes unused images, and its accessor readers trust declared counts, strides and types
//! (panics and runaway allocations on hostile files). So this reader resolves buffers itself —
//! `data:` URIs and files inside the glTF's own folder only, read through
//! [`crate::core::fs::read_input`], images never — and checks every accessor it will read, the
//! node graph (no cycles) and the triangle count after instancing before reading anything.

use std::path::{Component, Path};

use glam::{Mat3, Mat4, Vec3};
use gltf::accessor::{DataType, Dimensions};

use super::GltfError;
use crate::core::fs::{InputLimit, read_input};
use crate::core::geometry::Mesh;

/// Most triangles (after node instancing) a file may expand to (`CARVE_MAX_TRIANGLES`, default
/// 50 million: ~2.4 GB of vertices and indices at most).
fn max_triangles() -> u64 {
    std::env::var("CARVE_MAX_TRIANGLES").ok().and_then(|v| v.trim().parse().ok()).unwrap_or(50_000_000)
}

/// Most node instances (nodes reached through every path from the scenes) the reader walks.
const MAX_NODE_INSTANCES: u64 = 10_000_000;

/// Reads every triangle primitive of the default scene (or all scenes) into one mesh in world
/// coordinates.
pub fn read_gltf(path: &Path) -> Result<Mesh, GltfError> {
    let parse = |message: String| GltfError::Parse { path: path.to_owned(), message };
    let content = |message: String| GltfError::Content { path: path.to_owned(), message };
    let bytes = read_input(path, InputLimit::Data).map_err(|e| parse(e.source.to_string()))?;
    check_glb_header(&bytes).map_err(parse)?;
    let gltf = gltf::Gltf::from_slice_without_validation(&bytes).map_err(|e| parse(describe(&e)))?;
    // gltf-json's validation itself indexes the accessors with each POSITION attribute (and
    // panics on a missing one), so that index is checked first.
    let accessors = gltf.document.as_json().accessors.len();
    for (m, mesh) in gltf.document.as_json().meshes.iter().enumerate() {
        for attributes in mesh.primitives.iter().map(|p| &p.attributes) {
            if let Some(bad) = attributes.values().map(|a| a.value()).find(|&a| a >= accessors) {
                return Err(parse(format!("invalid glTF: mesh {m} refers to accessor {bad}, which does not exist")));
            }
        }
    }
    let blob = gltf.blob;
    let document = gltf::Document::from_json(gltf.document.into_json()).map_err(|e| parse(describe(&e)))?;
    let buffers = load_buffers(&document, blob, path)?;
    let document = &document;
    let scenes: Vec<gltf::Scene> = match document.default_scene() {
        Some(s) => vec![s],
        None => document.scenes().collect(),
    };
    let instances = node_instances(document, &scenes).map_err(content)?;
    // The reader walks every node instance, with or without a mesh (found by fuzzing: a 2⁴⁰ DAG
    // of empty nodes).
    let visits = instances.iter().fold(0u64, |n, &c| n.saturating_add(c));
    if visits > MAX_NODE_INSTANCES {
        return Err(content(format!(
            "the node graph expands to {visits} node instances, more than the {MAX_NODE_INSTANCES} Carve walks"
        )));
    }
    let mut triangles = 0u64;
    for node in document.nodes() {
        let (count, Some(mesh)) = (instances[node.index()], node.mesh()) else { continue };
        for primitive in mesh.primitives().filter(|p| p.mode() == gltf::mesh::Mode::Triangles) {
            let n =
                check_primitive(&primitive, &buffers).map_err(|m| content(format!("mesh {}: {m}", mesh.index())))?;
            triangles = triangles.saturating_add(count.saturating_mul(n));
        }
    }
    if triangles > max_triangles() {
        return Err(content(format!(
            "expands to {triangles} triangles through node instancing, more than the {} Carve reads \
             (raise CARVE_MAX_TRIANGLES to allow it)",
            max_triangles()
        )));
    }

    let mut mesh = Mesh { colors: Some(Vec::new()), normals: Some(Vec::new()), ..Default::default() };
    let mut any_colors = false;
    let mut stack: Vec<(gltf::Node, Mat4)> =
        scenes.iter().flat_map(|s| s.nodes().map(|n| (n, Mat4::IDENTITY)).collect::<Vec<_>>()).collect();
    while let Some((node, parent)) = stack.pop() {
        let world = parent * Mat4::from_cols_array_2d(&node.transform().matrix());
        if let Some(m) = node.mesh() {
            let normal_matrix = Mat3::from_mat4(world).inverse().transpose();
            for primitive in m.primitives().filter(|p| p.mode() == gltf::mesh::Mode::Triangles) {
                let reader = primitive.reader(|b| buffers.get(b.index()).map(Vec::as_slice));
                let Some(positions) = reader.read_positions() else { continue };
                let positions: Vec<[f32; 3]> =
                    positions.map(|p| world.transform_point3(Vec3::from_array(p)).to_array()).collect();
                let n = positions.len();
                let base = u32::try_from(mesh.positions.len())
                    .ok()
                    .filter(|b| b.checked_add(n as u32).is_some())
                    .ok_or_else(|| content("more than 4 billion vertices".into()))?;
                let normals: Option<Vec<[f32; 3]>> = reader.read_normals().map(|it| {
                    it.map(|v| (normal_matrix * Vec3::from_array(v)).normalize_or(Vec3::Y).to_array()).collect()
                });
                let colors: Option<Vec<[f32; 4]>> = reader.read_colors(0).map(|c| c.into_rgba_f32().collect());
                any_colors |= colors.is_some();
                let local: Vec<u32> = match reader.read_indices() {
                    Some(i) => i.into_u32().collect(),
                    None => (0..n as u32).collect(),
                };
                if let Some(bad) = local.iter().find(|&&i| i as usize >= n) {
                    return Err(content(format!(
                        "mesh {}: triangle index {bad} is out of range ({n} vertices)",
                        m.index()
                    )));
                }
                let sub = Mesh { positions: positions.clone(), normals: None, colors: None, indices: local.clone() };
                let normals = normals.filter(|v| v.len() == n).unwrap_or_else(|| sub.compute_normals());
                mesh.positions.extend(positions);
                mesh.normals.get_or_insert_default().extend(normals);
                mesh.colors
                    .get_or_insert_default()
                    .extend(colors.filter(|c| c.len() == n).unwrap_or_else(|| vec![[1.0; 4]; n]));
                mesh.indices.extend(local.iter().map(|i| i + base));
            }
        }
        stack.extend(node.children().map(|c| (c, world)));
    }
    if !any_colors {
        mesh.colors = None;
    }
    if mesh.positions.is_empty() {
        return Err(content("no triangle mesh in the file".into()));
    }
    mesh.validate().map_err(|e| content(e.to_string()))?;
    Ok(mesh)
}

/// The GLB header's declared length, checked before the `gltf` crate subtracts the header size
/// from it (an overflow panic on a length under 12; found by fuzzing).
fn check_glb_header(bytes: &[u8]) -> Result<(), String> {
    if !bytes.starts_with(b"glTF") {
        return Ok(());
    }
    let word = |at: usize| bytes.get(at..at + 4).and_then(|b| <[u8; 4]>::try_from(b).ok()).map(u32::from_le_bytes);
    let (Some(version), Some(length)) = (word(4), word(8)) else {
        return Err("the GLB header is cut off".into());
    };
    if version != 2 {
        return Err(format!("GLB version {version}; Carve reads version 2"));
    }
    if length < 12 || length as usize > bytes.len() {
        return Err(format!("the GLB header declares {length} bytes; the file has {}", bytes.len()));
    }
    Ok(())
}

/// The `gltf` crate's error, on one line (validation errors list JSON paths, never file bytes).
fn describe(e: &gltf::Error) -> String {
    match e {
        gltf::Error::Validation(errors) => {
            let shown: Vec<String> = errors.iter().take(3).map(|(path, err)| format!("{path}: {err}")).collect();
            let more = errors.len().saturating_sub(3);
            format!(
                "invalid glTF: {}{}",
                shown.join("; "),
                if more > 0 { format!(" (+{more} more)") } else { String::new() }
            )
        }
        other => other.to_string().replace('\n', " "),
    }
}

/// Every buffer's bytes: the GLB binary chunk, a `data:` URI, or a file inside the glTF's folder.
fn load_buffers(document: &gltf::Document, blob: Option<Vec<u8>>, path: &Path) -> Result<Vec<Vec<u8>>, GltfError> {
    let content = |message: String| GltfError::Content { path: path.to_owned(), message };
    let folder = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let mut out = Vec::new();
    for buffer in document.buffers() {
        let which = format!("buffer {}", buffer.index());
        let data = match buffer.source() {
            gltf::buffer::Source::Bin => {
                blob.clone().ok_or_else(|| content(format!("{which} refers to a GLB binary chunk the file lacks")))?
            }
            gltf::buffer::Source::Uri(uri) => read_uri(uri, folder).map_err(|m| content(format!("{which}: {m}")))?,
        };
        if (data.len() as u64) < buffer.length() as u64 {
            return Err(content(format!(
                "{which} holds {} bytes, less than the {} its byteLength declares",
                data.len(),
                buffer.length()
            )));
        }
        out.push(data);
    }
    Ok(out)
}

/// The bytes a buffer URI names: `data:` (base64 or not), or a relative file reference that stays
/// inside `folder` after percent-decoding and resolving links. Never echoes what it read.
fn read_uri(uri: &str, folder: &Path) -> Result<Vec<u8>, String> {
    if let Some(rest) = uri.strip_prefix("data:") {
        let (meta, payload) = rest.split_once(',').ok_or("a data: URI without a comma")?;
        return if meta.ends_with(";base64") {
            base64::decode(payload).map_err(|e| format!("a data: URI that is not valid base64 ({e})"))
        } else {
            percent_decode(payload).ok_or_else(|| "a data: URI with an invalid percent escape".into())
        };
    }
    let shown: String = uri.chars().take(80).collect::<String>().escape_debug().to_string();
    let outside =
        || format!("'{shown}' is not a file inside the glTF's folder; Carve reads only those (and data: URIs)");
    if uri.contains(':') || uri.starts_with('/') || uri.starts_with('\\') || uri.contains('\\') {
        return Err(outside());
    }
    let decoded = percent_decode(uri).ok_or_else(|| format!("'{shown}' has an invalid percent escape"))?;
    let decoded = String::from_utf8(decoded).map_err(|_| format!("'{shown}' is not UTF-8 after percent-decoding"))?;
    let relative = Path::new(&decoded);
    if decoded.is_empty()
        || decoded.contains('\0')
        || relative.components().any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
    {
        return Err(outside());
    }
    let target = folder.join(relative);
    let real_folder = folder.canonicalize().map_err(|e| format!("cannot resolve the glTF's folder: {e}"))?;
    let real_target = target.canonicalize().map_err(|e| format!("'{shown}': {e}"))?;
    if !real_target.starts_with(&real_folder) {
        return Err(outside());
    }
    read_input(&real_target, InputLimit::Data).map_err(|e| format!("'{shown}' {}", e.source))
}

/// RFC 3986 percent-decoding; `None` on a malformed escape.
fn percent_decode(s: &str) -> Option<Vec<u8>> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Some(out)
}

/// How many times each node is instanced by the scenes (paths from a scene root), saturating;
/// an error on a cycle. Iterative: a deep chain cannot overflow the stack.
fn node_instances(document: &gltf::Document, scenes: &[gltf::Scene]) -> Result<Vec<u64>, String> {
    let n = document.nodes().len();
    let children: Vec<Vec<usize>> = document.nodes().map(|node| node.children().map(|c| c.index()).collect()).collect();
    // Topological order of the reachable nodes by depth-first search; a node met again while it is
    // on the current path is a cycle.
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        OnPath,
        Done,
    }
    let mut mark = vec![Mark::New; n];
    let mut order = Vec::with_capacity(n);
    for root in scenes.iter().flat_map(|s| s.nodes().map(|node| node.index())) {
        if mark[root] != Mark::New {
            continue;
        }
        let mut stack = vec![(root, 0usize)];
        mark[root] = Mark::OnPath;
        while let Some((node, next)) = stack.last_mut() {
            let node = *node;
            if let Some(&child) = children[node].get(*next) {
                *next += 1;
                match mark[child] {
                    Mark::OnPath => {
                        return Err(format!("node {child} is its own ancestor (a cycle in the node graph)"));
                    }
                    Mark::New => {
                        mark[child] = Mark::OnPath;
                        stack.push((child, 0));
                    }
                    Mark::Done => {}
                }
            } else {
                mark[node] = Mark::Done;
                order.push(node);
                stack.pop();
            }
        }
    }
    let mut count = vec![0u64; n];
    for root in scenes.iter().flat_map(|s| s.nodes().map(|node| node.index())) {
        count[root] = count[root].saturating_add(1);
    }
    // `order` lists children before parents: walk it backwards so a node's count is final before
    // it is passed on.
    for &node in order.iter().rev() {
        for &child in &children[node] {
            count[child] = count[child].saturating_add(count[node]);
        }
    }
    Ok(count)
}

/// Checks everything the reader will touch in a triangle primitive: the accessors' types, and that
/// each lies inside its buffer view and buffer. Returns its triangle count.
fn check_primitive(primitive: &gltf::Primitive, buffers: &[Vec<u8>]) -> Result<u64, String> {
    let float3 = |d: DataType, t: Dimensions| d == DataType::F32 && t == Dimensions::Vec3;
    let Some(position) = primitive.get(&gltf::Semantic::Positions) else {
        return Ok(0); // skipped by the reader
    };
    check_accessor(&position, buffers, "POSITION", float3)?;
    let vertices = position.count() as u64;
    if let Some(normal) = primitive.get(&gltf::Semantic::Normals) {
        check_accessor(&normal, buffers, "NORMAL", float3)?;
    }
    if let Some(color) = primitive.get(&gltf::Semantic::Colors(0)) {
        check_accessor(&color, buffers, "COLOR_0", |d, t| {
            matches!(d, DataType::F32 | DataType::U8 | DataType::U16)
                && matches!(t, Dimensions::Vec3 | Dimensions::Vec4)
        })?;
    }
    let indices = match primitive.indices() {
        Some(indices) => {
            check_accessor(&indices, buffers, "indices", |d, t| {
                matches!(d, DataType::U8 | DataType::U16 | DataType::U32) && t == Dimensions::Scalar
            })?;
            indices.count() as u64
        }
        None => vertices,
    };
    if !indices.is_multiple_of(3) {
        return Err(format!("{indices} indices is not a whole number of triangles"));
    }
    Ok(indices / 3)
}

fn check_accessor(
    accessor: &gltf::Accessor,
    buffers: &[Vec<u8>],
    what: &str,
    type_ok: impl Fn(DataType, Dimensions) -> bool,
) -> Result<(), String> {
    let name = format!("{what} accessor {}", accessor.index());
    if !type_ok(accessor.data_type(), accessor.dimensions()) {
        return Err(format!(
            "{name} is {:?} {:?}, which glTF does not allow here",
            accessor.dimensions(),
            accessor.data_type()
        ));
    }
    if accessor.sparse().is_some() {
        return Err(format!("{name} is sparse; Carve does not read sparse accessors"));
    }
    let count = accessor.count() as u64;
    if count == 0 {
        return Err(format!("{name} has no elements"));
    }
    if count > 3 * max_triangles() {
        return Err(format!("{name} declares {count} elements, more than Carve reads (CARVE_MAX_TRIANGLES)"));
    }
    let Some(view) = accessor.view() else {
        return Err(format!("{name} has no bufferView"));
    };
    let component = accessor.data_type().size() as u64;
    let element = accessor.size() as u64;
    let stride = match view.stride() {
        Some(s) => {
            let s = s as u64;
            if s < element || s > 252 || !s.is_multiple_of(4) {
                return Err(format!(
                    "{name}: byteStride {s} does not fit {element}-byte elements (4..=252, a multiple of 4)"
                ));
            }
            s
        }
        None => element,
    };
    let buffer_len = buffers.get(view.buffer().index()).map_or(0, |b| b.len() as u64);
    let view_offset = view.offset() as u64;
    let view_end = view_offset.checked_add(view.length() as u64).filter(|&e| e <= buffer_len).ok_or_else(|| {
        format!(
            "bufferView {} (offset {view_offset}, {} bytes) lies outside its buffer of {buffer_len} bytes",
            view.index(),
            view.length()
        )
    })?;
    let offset = accessor.offset() as u64;
    if !offset.is_multiple_of(component) {
        return Err(format!("{name}: byteOffset {offset} is not a multiple of its component size {component}"));
    }
    let needed =
        (count - 1).checked_mul(stride).and_then(|b| b.checked_add(offset)).and_then(|b| b.checked_add(element));
    match needed {
        Some(end) if end <= view_end - view_offset => Ok(()),
        _ => {
            Err(format!("{name}: {count} elements do not fit in bufferView {} ({} bytes)", view.index(), view.length()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding_rejects_bad_escapes() {
        assert_eq!(percent_decode("my%20mesh.bin").as_deref(), Some(&b"my mesh.bin"[..]));
        assert_eq!(percent_decode("%"), None);
        assert_eq!(percent_decode("%zz"), None);
        assert_eq!(percent_decode("%4"), None);
    }

    #[test]
    fn uris_outside_the_folder_are_refused_and_not_echoed() {
        let dir = tempfile::tempdir().unwrap();
        let inner = dir.path().join("inner");
        std::fs::create_dir(&inner).unwrap();
        std::fs::write(dir.path().join("secret.bin"), b"root:x:0:0").unwrap();
        std::fs::write(inner.join("ok.bin"), b"fine").unwrap();
        std::os::unix::fs::symlink(dir.path().join("secret.bin"), inner.join("link.bin")).unwrap();
        assert_eq!(read_uri("ok.bin", &inner).unwrap(), b"fine");
        assert_eq!(read_uri("./ok.bin", &inner).unwrap(), b"fine");
        for uri in [
            "../secret.bin",
            "%2e%2e/secret.bin",
            "..%2Fsecret.bin",
            "/etc/passwd",
            "file:///etc/passwd",
            "link.bin",
            "sub/../../secret.bin",
        ] {
            let e = read_uri(uri, &inner).unwrap_err();
            assert!(!e.contains("root:x"), "{uri}: {e}");
            assert!(e.contains("inside the glTF's folder") || e.contains("No such file"), "{uri}: {e}");
        }
        assert_eq!(read_uri("data:application/octet-stream;base64,AAEC", &inner).unwrap(), [0, 1, 2]);
        assert!(read_uri("data:application/octet-stream;base64,!!", &inner).is_err());
    }
}
