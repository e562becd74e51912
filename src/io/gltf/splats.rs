//! Gaussian splats as glTF: `KHR_gaussian_splatting` (ratified), written and read as GLB. A
//! POINTS primitive whose attributes are `POSITION`, `KHR_gaussian_splatting:ROTATION` (xyzw),
//! `:SCALE` (linear), `:OPACITY` (0..1), `:SH_DEGREE_ℓ_COEF_n` (RGB per coefficient), and a
//! `COLOR_0` fallback (diffuse colour and opacity) for viewers without the extension.
//!
//! Written and read through `serde_json` rather than `gltf-json`: the latter has no way to name
//! the extension's attribute semantics (they parse as invalid, and its validation refuses them).
//! Coordinates are written as given: callers convert frames (OpenCV → glTF) as for meshes.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use serde_json::json;

use super::{ExportError, GltfError};
use crate::core::fs::{FileError, InputLimit, read_input, write_atomic};
use crate::core::geometry::Splats;

/// The extension's name.
pub const EXTENSION: &str = "KHR_gaussian_splatting";
const SH_C0: f32 = 0.282_094_8;
const FLOAT: u32 = 5126;

fn attribute(name: &str) -> String {
    format!("{EXTENSION}:{name}")
}

/// The GLB bytes of `splats`.
pub fn splats_glb_bytes(splats: &Splats) -> Result<Vec<u8>, ExportError> {
    splats.validate().map_err(ExportError::Geometry)?;
    let n = splats.len();
    let coeffs = splats.sh_coeffs();
    let mut columns: Vec<(String, &'static str, usize, Vec<f32>)> = vec![
        ("POSITION".into(), "VEC3", 3, splats.positions.iter().flatten().copied().collect()),
        (attribute("ROTATION"), "VEC4", 4, splats.rotations.iter().flat_map(|[w, x, y, z]| [*x, *y, *z, *w]).collect()),
        (attribute("SCALE"), "VEC3", 3, splats.scales.iter().flatten().copied().collect()),
        (attribute("OPACITY"), "SCALAR", 1, splats.opacities.clone()),
    ];
    for k in 0..coeffs {
        let degree = (k as f64).sqrt().floor() as usize;
        let name = attribute(&format!("SH_DEGREE_{degree}_COEF_{}", k - degree * degree));
        let values = (0..n).flat_map(|i| splats.sh[(i * coeffs + k) * 3..(i * coeffs + k) * 3 + 3].to_vec()).collect();
        columns.push((name, "VEC3", 3, values));
    }
    let fallback = (0..n)
        .flat_map(|i| {
            let dc = &splats.sh[i * coeffs * 3..i * coeffs * 3 + 3];
            let c = |v: f32| (v * SH_C0 + 0.5).clamp(0.0, 1.0);
            [c(dc[0]), c(dc[1]), c(dc[2]), splats.opacities[i].clamp(0.0, 1.0)]
        })
        .collect();
    columns.push(("COLOR_0".into(), "VEC4", 4, fallback));

    let mut bin: Vec<u8> = Vec::new();
    let (mut views, mut accessors, mut attributes) = (Vec::new(), Vec::new(), serde_json::Map::new());
    for (i, (name, kind, width, values)) in columns.iter().enumerate() {
        let offset = bin.len();
        bin.extend(values.iter().flat_map(|v| v.to_le_bytes()));
        // target 34962: ARRAY_BUFFER (vertex data).
        views.push(json!({"buffer": 0, "byteOffset": offset, "byteLength": values.len() * 4, "target": 34962}));
        let mut accessor = json!({"bufferView": i, "componentType": FLOAT, "count": n, "type": kind});
        if name == "POSITION" {
            let (mut lo, mut hi) = ([f32::MAX; 3], [f32::MIN; 3]);
            for p in values.chunks_exact(*width) {
                for a in 0..3 {
                    lo[a] = lo[a].min(p[a]);
                    hi[a] = hi[a].max(p[a]);
                }
            }
            accessor["min"] = json!(lo);
            accessor["max"] = json!(hi);
        }
        accessors.push(accessor);
        attributes.insert(name.clone(), json!(i));
    }
    let doc = json!({
        "asset": {"version": "2.0", "generator": concat!("Carve ", env!("CARGO_PKG_VERSION"))},
        "extensionsUsed": [EXTENSION],
        "scene": 0,
        "scenes": [{"nodes": [0]}],
        "nodes": [{"mesh": 0}],
        "meshes": [{"primitives": [{
            "mode": 0,
            "attributes": attributes,
            "extensions": {EXTENSION: {
                "kernel": "ellipse",
                "colorSpace": "srgb_rec709_display",
                "projection": "perspective",
                "sortingMethod": "cameraDistance"
            }}
        }]}],
        "buffers": [{"byteLength": bin.len()}],
        "bufferViews": views,
        "accessors": accessors,
    });
    let mut text = serde_json::to_vec(&doc)?;
    while !text.len().is_multiple_of(4) {
        text.push(b' ');
    }
    while !bin.len().is_multiple_of(4) {
        bin.push(0);
    }
    let total = 12 + 8 + text.len() + 8 + bin.len();
    let mut out = Vec::with_capacity(total);
    out.extend(b"glTF");
    out.extend(2u32.to_le_bytes());
    out.extend((total as u32).to_le_bytes());
    out.extend((text.len() as u32).to_le_bytes());
    out.extend(b"JSON");
    out.extend(text);
    out.extend((bin.len() as u32).to_le_bytes());
    out.extend(b"BIN\0");
    out.extend(bin);
    Ok(out)
}

/// Writes `splats` as a `KHR_gaussian_splatting` GLB, atomically.
pub fn write_splats_glb(path: &Path, splats: &Splats) -> Result<(), FileError> {
    let bytes = splats_glb_bytes(splats)
        .map_err(|e| FileError { path: path.to_owned(), source: std::io::Error::other(e.to_string()) })?;
    write_atomic(path, &bytes)
}

#[derive(Deserialize)]
struct Doc {
    #[serde(default, rename = "extensionsUsed")]
    extensions_used: Vec<String>,
    #[serde(default)]
    meshes: Vec<MeshJson>,
    #[serde(default)]
    accessors: Vec<AccessorJson>,
    #[serde(default, rename = "bufferViews")]
    views: Vec<ViewJson>,
}

#[derive(Deserialize)]
struct MeshJson {
    primitives: Vec<PrimitiveJson>,
}

#[derive(Deserialize)]
struct PrimitiveJson {
    attributes: BTreeMap<String, usize>,
    #[serde(default)]
    mode: Option<u32>,
    #[serde(default)]
    extensions: BTreeMap<String, serde_json::Value>,
}

#[derive(Deserialize)]
struct AccessorJson {
    #[serde(rename = "bufferView")]
    view: Option<usize>,
    #[serde(default, rename = "byteOffset")]
    offset: u64,
    #[serde(rename = "componentType")]
    component: u32,
    count: u64,
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Deserialize)]
struct ViewJson {
    buffer: usize,
    #[serde(default, rename = "byteOffset")]
    offset: u64,
    #[serde(rename = "byteLength")]
    length: u64,
    #[serde(rename = "byteStride")]
    stride: Option<u64>,
}

/// The JSON and binary chunks of a GLB, bounds-checked.
fn glb_chunks(bytes: &[u8]) -> Result<(&[u8], &[u8]), String> {
    let word = |at: usize| bytes.get(at..at + 4).and_then(|b| <[u8; 4]>::try_from(b).ok()).map(u32::from_le_bytes);
    if !bytes.starts_with(b"glTF") || word(4) != Some(2) {
        return Err("not a version 2 GLB".into());
    }
    let mut chunks = Vec::new();
    let mut at = 12usize;
    while at + 8 <= bytes.len() && chunks.len() < 2 {
        let len = word(at).ok_or("a chunk header is cut off")? as usize;
        let data = bytes.get(at + 8..at + 8 + len).ok_or("a chunk runs past the end of the file")?;
        chunks.push(data);
        at += 8 + len;
    }
    match chunks[..] {
        [json, bin] => Ok((json, bin)),
        [json] => Ok((json, &[])),
        _ => Err("no JSON chunk".into()),
    }
}

/// Whether a GLB uses `KHR_gaussian_splatting` (its JSON chunk lists it in `extensionsUsed`).
pub fn uses_gaussian_splatting(bytes: &[u8]) -> bool {
    #[derive(Deserialize)]
    struct Used {
        #[serde(default, rename = "extensionsUsed")]
        extensions_used: Vec<String>,
    }
    glb_chunks(bytes)
        .ok()
        .and_then(|(json, _)| serde_json::from_slice::<Used>(json).ok())
        .is_some_and(|u| u.extensions_used.iter().any(|e| e == EXTENSION))
}

/// Reads the first `KHR_gaussian_splatting` primitive of a GLB (float attributes).
pub fn read_splats_glb(path: &Path) -> Result<Splats, GltfError> {
    let content = |message: String| GltfError::Content { path: path.to_owned(), message };
    let bytes = read_input(path, InputLimit::Data)
        .map_err(|e| GltfError::Parse { path: path.to_owned(), message: e.source.to_string() })?;
    let (json, bin) = glb_chunks(&bytes).map_err(|m| GltfError::Parse { path: path.to_owned(), message: m })?;
    let doc: Doc = serde_json::from_slice(json)
        .map_err(|e| GltfError::Parse { path: path.to_owned(), message: format!("invalid glTF JSON: {e}") })?;
    if !doc.extensions_used.iter().any(|e| e == EXTENSION) {
        return Err(content(format!("does not use {EXTENSION}")));
    }
    let primitive = doc
        .meshes
        .iter()
        .flat_map(|m| &m.primitives)
        .find(|p| p.extensions.contains_key(EXTENSION))
        .ok_or_else(|| content(format!("no primitive with {EXTENSION}")))?;
    if primitive.mode != Some(0) {
        return Err(content(format!("the {EXTENSION} primitive is not POINTS (mode 0)")));
    }
    let read = |name: &str, width: usize| -> Result<Option<Vec<f32>>, GltfError> {
        let Some(&index) = primitive.attributes.get(name) else { return Ok(None) };
        read_floats(&doc, bin, index, width).map(Some).map_err(|m| content(format!("{name}: {m}")))
    };
    let need = |name: &str, width: usize| {
        read(name, width)?.ok_or_else(|| content(format!("the {EXTENSION} primitive has no {name}")))
    };
    let positions = need("POSITION", 3)?;
    let n = positions.len() / 3;
    let rotations = need(&attribute("ROTATION"), 4)?;
    let scales = need(&attribute("SCALE"), 3)?;
    let opacities = need(&attribute("OPACITY"), 1)?;
    // Degrees in order, each complete; the zeroth is required.
    let mut sh_columns = Vec::new();
    let mut degree = 0u8;
    for l in 0..=3usize {
        let names: Vec<String> = (0..2 * l + 1).map(|c| attribute(&format!("SH_DEGREE_{l}_COEF_{c}"))).collect();
        let present: Vec<Option<Vec<f32>>> = names.iter().map(|nm| read(nm, 3)).collect::<Result<_, _>>()?;
        match (present.iter().filter(|p| p.is_some()).count(), l) {
            (0, 0) => return Err(content(format!("no {}", attribute("SH_DEGREE_0_COEF_0")))),
            (0, _) => break,
            (k, _) if k < present.len() => return Err(content(format!("spherical-harmonic degree {l} is partial"))),
            _ => {
                sh_columns.extend(present.into_iter().flatten());
                degree = l as u8;
            }
        }
    }
    if [rotations.len() / 4, scales.len() / 3, opacities.len()].iter().any(|&m| m != n)
        || sh_columns.iter().any(|c| c.len() / 3 != n)
    {
        return Err(content("the attributes have different counts".into()));
    }
    let coeffs = sh_columns.len();
    let mut sh = Vec::with_capacity(n * coeffs * 3);
    for i in 0..n {
        for column in &sh_columns {
            sh.extend_from_slice(&column[i * 3..i * 3 + 3]);
        }
    }
    let splats = Splats {
        positions: positions.chunks_exact(3).map(|p| [p[0], p[1], p[2]]).collect(),
        scales: scales.chunks_exact(3).map(|s| [s[0], s[1], s[2]]).collect(),
        rotations: rotations.chunks_exact(4).map(|q| [q[3], q[0], q[1], q[2]]).collect(),
        opacities,
        sh_degree: degree,
        sh,
    };
    if splats.scales.iter().flatten().any(|s| *s < 0.0) || splats.opacities.iter().any(|o| !(0.0..=1.0).contains(o)) {
        return Err(content(
            "negative scales or opacities outside 0..1 (the extension stores linear, activated values)".into(),
        ));
    }
    splats.validate().map_err(|e| content(e.to_string()))?;
    Ok(splats)
}

/// A float accessor's values (`width` per element), every offset checked against the buffer.
fn read_floats(doc: &Doc, bin: &[u8], index: usize, width: usize) -> Result<Vec<f32>, String> {
    let a = doc.accessors.get(index).ok_or_else(|| format!("accessor {index} does not exist"))?;
    let kind_width = match a.kind.as_str() {
        "SCALAR" => 1,
        "VEC3" => 3,
        "VEC4" => 4,
        other => return Err(format!("accessor type {other}")),
    };
    if a.component != FLOAT || kind_width != width {
        return Err(format!("{} of component type {}; Carve reads float {width}-vectors", a.kind, a.component));
    }
    let view = a.view.and_then(|v| doc.views.get(v)).ok_or("no bufferView")?;
    if view.buffer != 0 {
        return Err("a buffer other than the GLB's binary chunk".into());
    }
    let element = 4 * width as u64;
    let stride = view.stride.unwrap_or(element).max(element);
    let end =
        view.offset.checked_add(view.length).filter(|&e| e <= bin.len() as u64).ok_or("bufferView past the buffer")?;
    a.count
        .checked_sub(1)
        .and_then(|c| c.checked_mul(stride))
        .and_then(|b| b.checked_add(a.offset)?.checked_add(element)?.checked_add(view.offset))
        .filter(|&last| last <= end)
        .ok_or("no elements, or elements past their bufferView")?;
    let mut out = Vec::with_capacity((a.count as usize).saturating_mul(width).min(bin.len() / 4));
    for i in 0..a.count {
        let start = (view.offset + a.offset + i * stride) as usize;
        for c in 0..width {
            let b = &bin[start + 4 * c..start + 4 * c + 4];
            out.push(f32::from_le_bytes([b[0], b[1], b[2], b[3]]));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn splats(degree: u8) -> Splats {
        let n = 5;
        let coeffs = (usize::from(degree) + 1).pow(2);
        Splats {
            positions: (0..n).map(|i| [i as f32, -(i as f32) * 0.5, 2.0 + i as f32]).collect(),
            scales: (0..n).map(|i| [0.01 * (i + 1) as f32, 0.02, 0.03]).collect(),
            rotations: (0..n)
                .map(|i| {
                    let a = i as f32 * 0.3;
                    [a.cos(), a.sin(), 0.0, 0.0]
                })
                .collect(),
            opacities: (0..n).map(|i| 0.1 + 0.2 * i as f32).collect(),
            sh_degree: degree,
            sh: (0..n * coeffs * 3).map(|k| (k as f32 * 0.37).sin()).collect(),
        }
    }

    #[test]
    fn splats_round_trip_through_glb() {
        let dir = tempfile::tempdir().unwrap();
        for degree in [0u8, 1, 3] {
            let s = splats(degree);
            let path = dir.path().join(format!("s{degree}.glb"));
            write_splats_glb(&path, &s).unwrap();
            let bytes = std::fs::read(&path).unwrap();
            assert!(uses_gaussian_splatting(&bytes));
            assert_eq!(read_splats_glb(&path).unwrap(), s);
        }
    }
}
