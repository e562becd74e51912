//! PLY files: 3D Gaussian splats in the standard 3DGS layout, triangle meshes (with colours) and
//! point clouds, read and written. The header is parsed by `ply-rs-bw`; payloads are decoded here
//! (binary little/big endian and ASCII) with every count checked against the file size before
//! anything is allocated, and the splat path decodes records in parallel (a 1M-splat file is the
//! measured hot path).
//!
//! 3DGS layout: `x y z nx ny nz f_dc_0..2 f_rest_0..(3·((d+1)²−1)−1) opacity scale_0..2 rot_0..3`,
//! opacity as a logit, scales as logs, rotation `w x y z`; `f_rest` is channel-major (all red
//! coefficients, then green, then blue).

use std::path::{Path, PathBuf};

use ply_rs_bw::ply::{Encoding, PropertyType, ScalarType};
use rayon::prelude::*;

use crate::core::fs::{FileError, write_atomic_with};
use crate::core::geometry::{Mesh, PointCloud, Splats};

/// Errors from reading a PLY file; each names the file.
#[derive(Debug, thiserror::Error)]
pub enum PlyError {
    #[error("cannot read {}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{}: not a PLY file or a broken header: {message}", path.display())]
    Header { path: PathBuf, message: String },
    #[error("{}: truncated: element '{element}' needs {needed} bytes but only {available} remain", path.display())]
    Truncated { path: PathBuf, element: String, needed: u64, available: u64 },
    #[error("{}: {message}", path.display())]
    Content { path: PathBuf, message: String },
}

/// What a PLY file held: splats, a mesh or points.
pub use crate::core::geometry::Geometry as PlyContent;

#[derive(Clone, Debug)]
struct Prop {
    name: String,
    kind: PropertyType,
}

#[derive(Clone, Debug)]
struct Element {
    name: String,
    count: usize,
    props: Vec<Prop>,
}

fn scalar_size(t: &ScalarType) -> usize {
    match t {
        ScalarType::Char | ScalarType::UChar => 1,
        ScalarType::Short | ScalarType::UShort => 2,
        ScalarType::Int | ScalarType::UInt | ScalarType::Float => 4,
        ScalarType::Double => 8,
    }
}

#[inline]
fn read_scalar(b: &[u8], t: &ScalarType, big_endian: bool) -> f64 {
    macro_rules! num {
        ($ty:ty, $n:expr) => {{
            let arr: [u8; $n] = b[..$n].try_into().unwrap_or([0; $n]);
            f64::from(if big_endian { <$ty>::from_be_bytes(arr) } else { <$ty>::from_le_bytes(arr) })
        }};
    }
    match t {
        ScalarType::Char => f64::from(b[0] as i8),
        ScalarType::UChar => f64::from(b[0]),
        ScalarType::Short => num!(i16, 2),
        ScalarType::UShort => num!(u16, 2),
        ScalarType::Int => num!(i32, 4),
        ScalarType::UInt => num!(u32, 4),
        ScalarType::Float => num!(f32, 4),
        ScalarType::Double => num!(f64, 8),
    }
}

/// A parsed file: header layout plus the raw payload.
struct Parsed<'a> {
    path: &'a Path,
    encoding: Encoding,
    elements: Vec<Element>,
    payload: &'a [u8],
}

/// Values of one element: the wanted scalar properties row-major, and the first list property.
struct ElementValues {
    count: usize,
    scalars: Vec<f32>,
    lists: Vec<Vec<u32>>,
}

impl<'a> Parsed<'a> {
    fn new(bytes: &'a [u8], path: &'a Path) -> Result<Self, PlyError> {
        let header_err = |message: String| PlyError::Header { path: path.to_owned(), message };
        if !bytes.starts_with(b"ply") {
            return Err(header_err("does not start with 'ply'".into()));
        }
        let search = &bytes[..bytes.len().min(1 << 16)];
        let end = search
            .windows(10)
            .position(|w| w == b"end_header")
            .ok_or_else(|| header_err("no 'end_header' line in the first 64 KiB".into()))?;
        let mut payload_start = end + 10;
        if bytes.get(payload_start) == Some(&b'\r') {
            payload_start += 1;
        }
        if bytes.get(payload_start) == Some(&b'\n') {
            payload_start += 1;
        }
        let mut header_text = bytes[..payload_start].to_vec();
        if !header_text.ends_with(b"\n") {
            header_text.push(b'\n');
        }
        let parser = ply_rs_bw::parser::Parser::<ply_rs_bw::ply::DefaultElement>::new();
        let header = parser.read_ply_header(&mut &header_text[..]).map_err(|e| header_err(e.to_string()))?;
        let elements = header
            .elements
            .values()
            .map(|e| Element {
                name: e.name.clone(),
                count: e.count,
                props: e
                    .properties
                    .values()
                    .map(|p| Prop { name: p.name.clone(), kind: p.data_type.clone() })
                    .collect(),
            })
            .collect();
        Ok(Self { path, encoding: header.encoding, elements, payload: &bytes[payload_start..] })
    }

    fn content_err(&self, message: impl Into<String>) -> PlyError {
        PlyError::Content { path: self.path.to_owned(), message: message.into() }
    }

    fn element(&self, name: &str) -> Option<&Element> {
        self.elements.iter().find(|e| e.name == name)
    }

    /// For a binary file whose element `target` has only scalar properties: its bytes, record size,
    /// and the offset and type of each `wanted` property (missing ones are an error). `None` for
    /// ASCII files or elements with lists.
    #[allow(clippy::type_complexity)]
    fn scalar_records(
        &self,
        target: &str,
        wanted: &[&str],
    ) -> Result<Option<(&'a [u8], usize, Vec<(usize, ScalarType)>)>, PlyError> {
        if matches!(self.encoding, Encoding::Ascii) {
            return Ok(None);
        }
        let mut offset = 0usize;
        for element in &self.elements {
            let all_scalar = element.props.iter().all(|p| matches!(p.kind, PropertyType::Scalar(_)));
            let record: usize = element
                .props
                .iter()
                .map(|p| match &p.kind {
                    PropertyType::Scalar(t) => scalar_size(t),
                    PropertyType::List(..) => 0,
                })
                .sum();
            if !all_scalar {
                return Ok(None);
            }
            let needed = (element.count as u64).saturating_mul(record as u64);
            let remaining = self.payload.len().saturating_sub(offset) as u64;
            if needed > remaining {
                return Err(PlyError::Truncated {
                    path: self.path.to_owned(),
                    element: element.name.clone(),
                    needed,
                    available: remaining,
                });
            }
            if element.name == target {
                let mut layout = Vec::with_capacity(wanted.len());
                for w in wanted {
                    let Some(i) = element.props.iter().position(|p| p.name == *w) else {
                        return Err(self.content_err(format!("element '{target}' has no property '{w}'")));
                    };
                    let o: usize = element.props[..i]
                        .iter()
                        .map(|p| if let PropertyType::Scalar(t) = &p.kind { scalar_size(t) } else { 0 })
                        .sum();
                    let PropertyType::Scalar(t) = &element.props[i].kind else { return Ok(None) };
                    layout.push((o, t.clone()));
                }
                let bytes = &self.payload[offset..offset + element.count * record];
                return Ok(Some((bytes, record, layout)));
            }
            offset += element.count * record;
        }
        Err(self.content_err(format!("no element '{target}'")))
    }

    /// Reads elements in order up to and including `target`, returning `target`'s values for the
    /// `wanted` scalar properties (missing ones are an error) and its first list property.
    fn read(&self, target: &str, wanted: &[&str]) -> Result<ElementValues, PlyError> {
        let mut offset = 0usize;
        let mut ascii_tokens = match self.encoding {
            Encoding::Ascii => Some(
                std::str::from_utf8(self.payload)
                    .map_err(|_| self.content_err("ASCII payload is not text"))?
                    .split_ascii_whitespace(),
            ),
            _ => None,
        };
        let big_endian = matches!(self.encoding, Encoding::BinaryBigEndian);
        for element in &self.elements {
            let is_target = element.name == target;
            let columns: Vec<Option<usize>> = if is_target {
                wanted.iter().map(|w| element.props.iter().position(|p| p.name == *w)).collect()
            } else {
                Vec::new()
            };
            if is_target && let Some(i) = columns.iter().position(Option::is_none) {
                return Err(self.content_err(format!("element '{target}' has no property '{}'", wanted[i])));
            }
            let all_scalar = element.props.iter().all(|p| matches!(p.kind, PropertyType::Scalar(_)));
            // Minimum bytes per record (lists counted as their length field only).
            let min_record: usize = element
                .props
                .iter()
                .map(|p| match &p.kind {
                    PropertyType::Scalar(t) => scalar_size(t),
                    PropertyType::List(c, _) => scalar_size(c),
                })
                .sum();
            if let Some(tokens) = ascii_tokens.as_mut() {
                let mut values = ElementValues { count: element.count, scalars: Vec::new(), lists: Vec::new() };
                if is_target {
                    let available = self.payload.len() as u64;
                    if (element.count as u64).saturating_mul(element.props.len() as u64 * 2) > available + 1 {
                        return Err(PlyError::Truncated {
                            path: self.path.to_owned(),
                            element: element.name.clone(),
                            needed: element.count as u64 * element.props.len() as u64 * 2,
                            available,
                        });
                    }
                    values.scalars.reserve(element.count * wanted.len());
                }
                let mut row = vec![0f32; element.props.len()];
                for _ in 0..element.count {
                    let mut list = Vec::new();
                    for (k, p) in element.props.iter().enumerate() {
                        let mut next = || -> Result<f64, PlyError> {
                            let tok = tokens.next().ok_or_else(|| PlyError::Truncated {
                                path: self.path.to_owned(),
                                element: element.name.clone(),
                                needed: 1,
                                available: 0,
                            })?;
                            tok.parse::<f64>().map_err(|_| {
                                self.content_err(format!("'{tok}' is not a number in element '{}'", element.name))
                            })
                        };
                        match &p.kind {
                            PropertyType::Scalar(_) => row[k] = next()? as f32,
                            PropertyType::List(_, _) => {
                                let n = next()?;
                                if !(0.0..=1e6).contains(&n) {
                                    return Err(
                                        self.content_err(format!("list length {n} in element '{}'", element.name))
                                    );
                                }
                                for _ in 0..n as usize {
                                    let v = next()?;
                                    if list.is_empty() || !list.is_empty() {
                                        list.push(v as u32);
                                    }
                                }
                            }
                        }
                    }
                    if is_target {
                        values.scalars.extend(columns.iter().map(|c| row[c.unwrap_or(0)]));
                        values.lists.push(list);
                    }
                }
                if is_target {
                    return Ok(values);
                }
                continue;
            }
            let remaining = self.payload.len().saturating_sub(offset);
            let needed = (element.count as u64).saturating_mul(min_record as u64);
            if needed > remaining as u64 {
                return Err(PlyError::Truncated {
                    path: self.path.to_owned(),
                    element: element.name.clone(),
                    needed,
                    available: remaining as u64,
                });
            }
            let data = &self.payload[offset..];
            if all_scalar {
                let record = min_record;
                if is_target {
                    let mut layout = Vec::with_capacity(columns.len());
                    for c in columns.iter().flatten() {
                        let prop_offset: usize = element.props[..*c]
                            .iter()
                            .map(|p| match &p.kind {
                                PropertyType::Scalar(t) => scalar_size(t),
                                PropertyType::List(..) => 0,
                            })
                            .sum();
                        let PropertyType::Scalar(t) = &element.props[*c].kind else { unreachable!("all scalar") };
                        layout.push((prop_offset, t.clone()));
                    }
                    let n_wanted = layout.len().max(1);
                    let mut scalars = vec![0f32; element.count * layout.len()];
                    scalars.par_chunks_mut(n_wanted * 4096).enumerate().for_each(|(chunk, out)| {
                        let first = chunk * 4096;
                        for (r, row) in out.chunks_mut(n_wanted).enumerate() {
                            let rec = &data[(first + r) * record..(first + r + 1) * record];
                            for (v, (o, t)) in row.iter_mut().zip(&layout) {
                                *v = if matches!(t, ScalarType::Float) && !big_endian {
                                    f32::from_le_bytes([rec[*o], rec[o + 1], rec[o + 2], rec[o + 3]])
                                } else {
                                    read_scalar(&rec[*o..], t, big_endian) as f32
                                };
                            }
                        }
                    });
                    return Ok(ElementValues { count: element.count, scalars, lists: Vec::new() });
                }
                offset += element.count * record;
                continue;
            }
            // Records with lists: sequential, every read bounds-checked.
            let truncated = |needed: usize, at: usize| PlyError::Truncated {
                path: self.path.to_owned(),
                element: element.name.clone(),
                needed: needed as u64,
                available: (data.len().saturating_sub(at)) as u64,
            };
            let mut pos = 0usize;
            let mut values = ElementValues { count: element.count, scalars: Vec::new(), lists: Vec::new() };
            if is_target {
                values.scalars.reserve(element.count * wanted.len());
                values.lists.reserve(element.count);
            }
            let mut row = vec![0f32; element.props.len()];
            for _ in 0..element.count {
                let mut list: Vec<u32> = Vec::new();
                let mut first_list = true;
                for (k, p) in element.props.iter().enumerate() {
                    match &p.kind {
                        PropertyType::Scalar(t) => {
                            let s = scalar_size(t);
                            let b = data.get(pos..pos + s).ok_or_else(|| truncated(s, pos))?;
                            row[k] = read_scalar(b, t, big_endian) as f32;
                            pos += s;
                        }
                        PropertyType::List(ct, it) => {
                            let s = scalar_size(ct);
                            let b = data.get(pos..pos + s).ok_or_else(|| truncated(s, pos))?;
                            let n = read_scalar(b, ct, big_endian);
                            pos += s;
                            if !(0.0..=1e6).contains(&n) {
                                return Err(self.content_err(format!("list length {n} in element '{}'", element.name)));
                            }
                            let (n, is) = (n as usize, scalar_size(it));
                            let items = data.get(pos..pos + n * is).ok_or_else(|| truncated(n * is, pos))?;
                            if is_target && first_list {
                                list.extend(items.chunks_exact(is).map(|c| read_scalar(c, it, big_endian) as u32));
                            }
                            first_list = false;
                            pos += n * is;
                        }
                    }
                }
                if is_target {
                    values.scalars.extend(columns.iter().map(|c| row[c.unwrap_or(0)]));
                    values.lists.push(list);
                }
            }
            if is_target {
                return Ok(values);
            }
            offset += pos;
        }
        Err(self.content_err(format!("no element '{target}'")))
    }
}

fn has(e: &Element, name: &str) -> bool {
    e.props.iter().any(|p| p.name == name)
}

/// Reads a PLY file: splats when the vertex element has the 3DGS properties, a mesh when there
/// are faces, points otherwise.
pub fn read_ply(path: &Path) -> Result<PlyContent, PlyError> {
    let io = |source| PlyError::Io { path: path.to_owned(), source };
    let file = std::fs::File::open(path).map_err(io)?;
    // Large files are mapped rather than copied: the parallel decode then reads the page cache
    // directly (measured: a 248 MB 1M-splat file loads ~1.5× faster than with a full read).
    if file.metadata().map_err(io)?.len() >= 1 << 24 {
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
        for poly in &f.lists {
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

/// Writes splats in the standard 3DGS binary layout (readable by SuperSplat, brush, plyfile).
pub fn write_splats_ply(path: &Path, splats: &Splats) -> Result<(), FileError> {
    let coeffs = splats.sh_coeffs();
    let rest = (coeffs - 1) * 3;
    let mut header =
        format!("ply\nformat binary_little_endian 1.0\ncomment written by Carve\nelement vertex {}\n", splats.len());
    for name in ["x", "y", "z", "nx", "ny", "nz", "f_dc_0", "f_dc_1", "f_dc_2"] {
        header += &format!("property float {name}\n");
    }
    for k in 0..rest {
        header += &format!("property float f_rest_{k}\n");
    }
    for name in ["opacity", "scale_0", "scale_1", "scale_2", "rot_0", "rot_1", "rot_2", "rot_3"] {
        header += &format!("property float {name}\n");
    }
    header += "end_header\n";
    write_atomic_with(path, |w| {
        use std::io::Write;
        w.write_all(header.as_bytes())?;
        let mut row: Vec<f32> = Vec::with_capacity(17 + rest);
        for i in 0..splats.len() {
            row.clear();
            row.extend(splats.positions[i]);
            row.extend([0.0; 3]);
            let sh = &splats.sh[i * coeffs * 3..(i + 1) * coeffs * 3];
            row.extend(&sh[..3]);
            for c in 0..3 {
                for j in 1..coeffs {
                    row.push(sh[j * 3 + c]);
                }
            }
            let o = splats.opacities[i].clamp(1e-6, 1.0 - 1e-6);
            row.push((o / (1.0 - o)).ln());
            row.extend(splats.scales[i].map(f32::ln));
            row.extend(splats.rotations[i]);
            for v in &row {
                w.write_all(&v.to_le_bytes())?;
            }
        }
        Ok(())
    })
}

/// Writes a triangle mesh (positions, optional 8-bit colours, faces) as binary PLY.
pub fn write_mesh_ply(path: &Path, mesh: &Mesh) -> Result<(), FileError> {
    let mut header = format!(
        "ply\nformat binary_little_endian 1.0\ncomment written by Carve\nelement vertex {}\nproperty float x\nproperty float y\nproperty float z\n",
        mesh.positions.len()
    );
    if mesh.colors.is_some() {
        header += "property uchar red\nproperty uchar green\nproperty uchar blue\nproperty uchar alpha\n";
    }
    header += &format!("element face {}\nproperty list uchar int vertex_indices\nend_header\n", mesh.triangle_count());
    write_atomic_with(path, |w| {
        use std::io::Write;
        w.write_all(header.as_bytes())?;
        for (i, p) in mesh.positions.iter().enumerate() {
            for v in p {
                w.write_all(&v.to_le_bytes())?;
            }
            if let Some(colors) = &mesh.colors {
                let c = colors.get(i).copied().unwrap_or([1.0; 4]);
                w.write_all(&c.map(|v| (v.clamp(0.0, 1.0) * 255.0).round() as u8))?;
            }
        }
        for tri in mesh.indices.chunks_exact(3) {
            w.write_all(&[3u8])?;
            for &i in tri {
                w.write_all(&(i as i32).to_le_bytes())?;
            }
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn two_splats(degree: u8) -> Splats {
        let coeffs = (degree as usize + 1).pow(2);
        Splats {
            positions: vec![[0.0, 1.0, 2.0], [-1.0, 0.5, 3.0]],
            scales: vec![[0.1, 0.2, 0.3], [0.05, 0.05, 0.05]],
            rotations: vec![[1.0, 0.0, 0.0, 0.0], [0.5, 0.5, 0.5, 0.5]],
            opacities: vec![0.9, 0.25],
            sh_degree: degree,
            sh: (0..2 * coeffs * 3).map(|i| i as f32 * 0.01 - 0.2).collect(),
        }
    }

    #[test]
    fn splats_round_trip_every_degree() {
        let dir = tempfile::tempdir().unwrap();
        for degree in 0..=3 {
            let s = two_splats(degree);
            let path = dir.path().join(format!("s{degree}.ply"));
            write_splats_ply(&path, &s).unwrap();
            let PlyContent::Splats(back) = read_ply(&path).unwrap() else { panic!("not splats") };
            assert_eq!(back.sh_degree, degree);
            assert_eq!(back.positions, s.positions);
            for (a, b) in back.sh.iter().zip(&s.sh) {
                assert!((a - b).abs() < 1e-6);
            }
            for (a, b) in back.opacities.iter().zip(&s.opacities) {
                assert!((a - b).abs() < 1e-5);
            }
            for (a, b) in back.scales.iter().flatten().zip(s.scales.iter().flatten()) {
                assert!((a - b).abs() < 1e-6);
            }
        }
    }

    #[test]
    fn mesh_round_trip_and_ascii() {
        let dir = tempfile::tempdir().unwrap();
        let mesh = Mesh {
            positions: vec![[0.0; 3], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [1.0, 1.0, 0.0]],
            normals: None,
            colors: Some(vec![[1.0, 0.0, 0.0, 1.0]; 4]),
            indices: vec![0, 1, 2, 2, 1, 3],
        };
        let path = dir.path().join("m.ply");
        write_mesh_ply(&path, &mesh).unwrap();
        assert_eq!(read_ply(&path).unwrap(), PlyContent::Mesh(mesh));
        let ascii = b"ply\nformat ascii 1.0\nelement vertex 4\nproperty float x\nproperty float y\nproperty float z\nelement face 1\nproperty list uchar int vertex_indices\nend_header\n0 0 0\n1 0 0\n1 1 0\n0 1 0\n4 0 1 2 3\n";
        let PlyContent::Mesh(quad) = read_ply_bytes(ascii, Path::new("q.ply")).unwrap() else { panic!() };
        assert_eq!(quad.indices, vec![0, 1, 2, 0, 2, 3]);
    }

    #[test]
    fn malformed_files_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.ply");
        write_splats_ply(&path, &two_splats(1)).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let name = Path::new("cut.ply");
        let err = read_ply_bytes(&bytes[..bytes.len() - 10], name).unwrap_err();
        assert!(matches!(err, PlyError::Truncated { .. }) && err.to_string().contains("cut.ply"), "{err}");
        // A header that lies: 10⁹ vertices in a tiny file fails before allocating.
        let text = String::from_utf8_lossy(&bytes[..200]).into_owned();
        let lying =
            [text.replacen("element vertex 2", "element vertex 1000000000", 1).as_bytes(), &bytes[200..]].concat();
        assert!(matches!(read_ply_bytes(&lying, name).unwrap_err(), PlyError::Truncated { .. }));
        // NaN scale.
        let mut s = two_splats(0);
        s.scales[1][0] = f32::NAN;
        write_splats_ply(&path, &s).unwrap();
        assert!(read_ply(&path).unwrap_err().to_string().contains("splat 1"));
        // Missing property, not a PLY, wrong f_rest count.
        let no_y = b"ply\nformat ascii 1.0\nelement vertex 1\nproperty float x\nproperty float z\nend_header\n1 2\n";
        assert!(read_ply_bytes(no_y, name).unwrap_err().to_string().contains("'y'"));
        assert!(matches!(read_ply_bytes(b"solid stl", name).unwrap_err(), PlyError::Header { .. }));
        let odd_rest = b"ply\nformat ascii 1.0\nelement vertex 1\nproperty float x\nproperty float y\nproperty float z\nproperty float f_dc_0\nproperty float f_dc_1\nproperty float f_dc_2\nproperty float f_rest_0\nproperty float opacity\nproperty float scale_0\nproperty float scale_1\nproperty float scale_2\nproperty float rot_0\nproperty float rot_1\nproperty float rot_2\nproperty float rot_3\nend_header\n0 0 0 0 0 0 0 0 0 0 0 1 0 0 0\n";
        assert!(read_ply_bytes(odd_rest, name).unwrap_err().to_string().contains("SH degree"));
    }
}
