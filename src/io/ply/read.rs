//! What a PLY file holds: 3DGS splats when the vertex element has their properties, a mesh when
//! there are faces (polygons fan-triangulated), points otherwise. Large files are memory-mapped.

use std::path::Path;

use ply_rs_bw::ply::{Encoding, PropertyType, ScalarType};
use rayon::prelude::*;

use super::parse::{Element, Parsed, has, read_scalar};
use super::{PlyContent, PlyError};
use crate::core::geometry::{Mesh, PointCloud, Splats};

/// Reads a PLY file: splats when the vertex element has the 3DGS properties, a mesh when there
/// are faces, points otherwise.
pub fn read_ply(path: &Path) -> Result<PlyContent, PlyError> {
    let io = |source| PlyError::Io { path: path.to_owned(), source };
    let (file, len) = crate::core::fs::open_input(path).map_err(|e| io(e.source))?;
    crate::core::fs::check_input_size(path, len, crate::core::fs::InputLimit::Data).map_err(|e| io(e.source))?;
    // Large files are mapped rather than copied: the parallel decode then reads the page cache
    // directly (measured: a 248 MB 1M-splat file loads ~1.5× faster than with a full read).
    if len >= 1 << 24 {
        #[allow(unsafe_code)]
        // SAFETY: the map is read-only and dropped before returning. If another process truncates
        // the file meanwhile, reads could fault (SIGBUS); that is the accepted risk of mapping
        // files, as for every mmap-based loader, and is limited to files of 16 MiB and more.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(io)?;
        return read_ply_bytes(&map, path);
    }
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut &file, &mut bytes).map_err(io)?;
    read_ply_bytes(&bytes, path)
}

/// Like [`read_ply`] on bytes; `path` names them in errors.
pub fn read_ply_bytes(bytes: &[u8], path: &Path) -> Result<PlyContent, PlyError> {
    let parsed = Parsed::new(bytes, path)?;
    let vertex = parsed.element("vertex").ok_or_else(|| parsed.content_err("no 'vertex' element"))?.clone();
    let splat_props = ["f_dc_0", "opacity", "scale_0", "rot_0"];
    if splat_props.iter().all(|p| has(&vertex, p)) {
        return read_splats(&parsed, &vertex).map(PlyContent::Splats);
    }
    let mut xyz = vec!["x", "y", "z"];
    let color_names: Vec<&str> = ["red", "green", "blue", "alpha"].into_iter().filter(|c| has(&vertex, c)).collect();
    let has_color = color_names.len() >= 3;
    let color_scale = vertex.props.iter().find(|p| p.name == "red").map_or(1.0, |p| match &p.kind {
        PropertyType::Scalar(ScalarType::Float | ScalarType::Double) => 1.0,
        PropertyType::Scalar(ScalarType::UShort) => 1.0 / 65535.0,
        _ => 1.0 / 255.0,
    });
    if has_color {
        xyz.extend(&color_names);
    }
    let v = parsed.read("vertex", &xyz)?;
    let stride = xyz.len();
    let positions: Vec<[f32; 3]> = v.scalars.chunks_exact(stride).map(|r| [r[0], r[1], r[2]]).collect();
    let colors: Option<Vec<[f32; 4]>> = has_color.then(|| {
        v.scalars
            .chunks_exact(stride)
            .map(|r| {
                [
                    r[3] * color_scale,
                    r[4] * color_scale,
                    r[5] * color_scale,
                    if stride > 6 { r[6] * color_scale } else { 1.0 },
                ]
            })
            .collect()
    });
    let face = parsed.element("face");
    if let Some(face) = face.filter(|f| f.count > 0 && f.props.iter().any(|p| matches!(p.kind, PropertyType::List(..))))
    {
        let f = parsed.read(&face.name, &[])?;
        let mut indices = Vec::with_capacity(f.count * 3);
        for (i, poly) in f.lists.iter().enumerate() {
            if poly.len() < 3 {
                return Err(
                    parsed.content_err(format!("face {i} has {} vertices; a face needs at least 3", poly.len()))
                );
            }
            // Fan-triangulate polygons.
            for k in 1..poly.len().saturating_sub(1) {
                indices.extend([poly[0], poly[k], poly[k + 1]]);
            }
        }
        let mesh = Mesh { positions, normals: None, colors, indices };
        mesh.validate().map_err(|m| parsed.content_err(m))?;
        return Ok(PlyContent::Mesh(mesh));
    }
    if positions.is_empty() {
        return Err(parsed.content_err("the file has no vertices"));
    }
    if let Some(i) = positions.iter().position(|p| !p.iter().all(|c| c.is_finite())) {
        return Err(parsed.content_err(format!("point {i} has a non-finite coordinate")));
    }
    let n = positions.len();
    Ok(PlyContent::Points(PointCloud {
        positions,
        colors: colors.unwrap_or_else(|| vec![[0.8, 0.8, 0.8, 1.0]; n]),
        size_px: 2.0,
    }))
}

fn read_splats(parsed: &Parsed<'_>, vertex: &Element) -> Result<Splats, PlyError> {
    let rest = vertex.props.iter().filter(|p| p.name.starts_with("f_rest_")).count();
    let sh_degree = match rest {
        0 => 0u8,
        9 => 1,
        24 => 2,
        45 => 3,
        n => {
            return Err(
                parsed.content_err(format!("{n} f_rest properties do not match any SH degree (0, 9, 24 or 45)"))
            );
        }
    };
    let mut names: Vec<String> = [
        "x", "y", "z", "f_dc_0", "f_dc_1", "f_dc_2", "opacity", "scale_0", "scale_1", "scale_2", "rot_0", "rot_1",
        "rot_2", "rot_3",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    names.extend((0..rest).map(|k| format!("f_rest_{k}")));
    let wanted: Vec<&str> = names.iter().map(String::as_str).collect();
    if let Some((bytes, record, layout)) = parsed.scalar_records("vertex", &wanted)? {
        let s = decode_splat_records(
            bytes,
            record,
            &layout,
            sh_degree,
            matches!(parsed.encoding, Encoding::BinaryBigEndian),
        );
        s.validate().map_err(|m| parsed.content_err(m))?;
        return Ok(s);
    }
    let v = parsed.read("vertex", &wanted)?;
    let stride = wanted.len();
    let n = v.count;
    let coeffs = (sh_degree as usize + 1).pow(2);
    let mut s = Splats {
        positions: Vec::with_capacity(n),
        scales: Vec::with_capacity(n),
        rotations: Vec::with_capacity(n),
        opacities: Vec::with_capacity(n),
        sh_degree,
        sh: vec![0.0; n * coeffs * 3],
    };
    for r in v.scalars.chunks_exact(stride) {
        s.positions.push([r[0], r[1], r[2]]);
        s.opacities.push(1.0 / (1.0 + (-r[6]).exp()));
        s.scales.push([r[7].exp(), r[8].exp(), r[9].exp()]);
        let q = [r[10], r[11], r[12], r[13]];
        let norm = q.iter().map(|c| c * c).sum::<f32>().sqrt();
        s.rotations.push(if norm > 0.0 { q.map(|c| c / norm) } else { q });
    }
    s.sh.par_chunks_mut(coeffs * 3).zip(v.scalars.par_chunks_exact(stride)).for_each(|(out, r)| {
        out[..3].copy_from_slice(&r[3..6]);
        for c in 0..3 {
            for j in 1..coeffs {
                out[j * 3 + c] = r[14 + c * (coeffs - 1) + (j - 1)];
            }
        }
    });
    s.validate().map_err(|m| parsed.content_err(m))?;
    Ok(s)
}

/// Decodes binary splat records straight into [`Splats`] (parallel, no intermediate copy).
/// `layout` follows the order of the names built in [`read_splats`].
fn decode_splat_records(
    bytes: &[u8],
    record: usize,
    layout: &[(usize, ScalarType)],
    sh_degree: u8,
    big_endian: bool,
) -> Splats {
    let n = bytes.len().checked_div(record).unwrap_or(0);
    let coeffs = (sh_degree as usize + 1).pow(2);
    // The usual file: every property a little-endian float. Then a record is a float array and a
    // property is an index into it (this is the measured hot path of loading big splat files).
    let all_f32 = !big_endian
        && record.is_multiple_of(4)
        && layout.iter().all(|(o, t)| matches!(t, ScalarType::Float) && o.is_multiple_of(4));
    let float_index: Vec<usize> = layout.iter().map(|(o, _)| o / 4).collect();
    let get = |rec: &[u8], k: usize| -> f32 {
        if all_f32 {
            let o = float_index[k] * 4;
            f32::from_le_bytes([rec[o], rec[o + 1], rec[o + 2], rec[o + 3]])
        } else {
            let (o, t) = &layout[k];
            read_scalar(&rec[*o..], t, big_endian) as f32
        }
    };
    let mut s = Splats {
        positions: vec![[0.0; 3]; n],
        scales: vec![[0.0; 3]; n],
        rotations: vec![[0.0; 4]; n],
        opacities: vec![0.0; n],
        sh_degree,
        sh: vec![0.0; n * coeffs * 3],
    };
    s.positions
        .par_iter_mut()
        .zip(s.scales.par_iter_mut())
        .zip(s.rotations.par_iter_mut())
        .zip(s.opacities.par_iter_mut())
        .zip(s.sh.par_chunks_mut(coeffs * 3))
        .zip(bytes.par_chunks_exact(record))
        .for_each(|(((((p, sc), rot), op), sh), rec)| {
            *p = [get(rec, 0), get(rec, 1), get(rec, 2)];
            sh[0] = get(rec, 3);
            sh[1] = get(rec, 4);
            sh[2] = get(rec, 5);
            *op = 1.0 / (1.0 + (-get(rec, 6)).exp());
            *sc = [get(rec, 7).exp(), get(rec, 8).exp(), get(rec, 9).exp()];
            let q = [get(rec, 10), get(rec, 11), get(rec, 12), get(rec, 13)];
            let norm = q.iter().map(|c| c * c).sum::<f32>().sqrt();
            *rot = if norm > 0.0 { q.map(|c| c / norm) } else { q };
            for c in 0..3 {
                for j in 1..coeffs {
                    sh[j * 3 + c] = get(rec, 14 + c * (coeffs - 1) + (j - 1));
                }
            }
        });
    s
}
