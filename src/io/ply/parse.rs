//! The PLY container: the header (parsed by `ply-rs-bw`) and the payload, decoded element by
//! element (binary little/big endian or ASCII) with every count checked against the bytes left
//! before anything is allocated; all-scalar binary elements are decoded in parallel.

use std::path::Path;

use ply_rs_bw::ply::{Encoding, PropertyType, ScalarType};
use rayon::prelude::*;

use super::PlyError;

/// One property of an element: its name and type.
#[derive(Clone, Debug)]
pub(super) struct Prop {
    pub(super) name: String,
    pub(super) kind: PropertyType,
}

/// One element of the header: its name, record count and properties.
#[derive(Clone, Debug)]
pub(super) struct Element {
    pub(super) name: String,
    pub(super) count: usize,
    pub(super) props: Vec<Prop>,
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
pub(super) fn read_scalar(b: &[u8], t: &ScalarType, big_endian: bool) -> f64 {
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
pub(super) struct Parsed<'a> {
    path: &'a Path,
    pub(super) encoding: Encoding,
    elements: Vec<Element>,
    payload: &'a [u8],
}

/// Values of one element: the wanted scalar properties row-major, and per record its list items
/// (binary files: the first list property; ASCII files: every list property, concatenated).
pub(super) struct ElementValues {
    pub(super) count: usize,
    pub(super) scalars: Vec<f32>,
    pub(super) lists: Vec<Vec<u32>>,
}

impl<'a> Parsed<'a> {
    pub(super) fn new(bytes: &'a [u8], path: &'a Path) -> Result<Self, PlyError> {
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
            .collect::<Vec<Element>>();
        for e in &elements {
            if e.count > 0 && e.props.is_empty() {
                return Err(header_err(format!("element '{}' has {} records but no properties", e.name, e.count)));
            }
            for p in &e.props {
                if let PropertyType::List(ScalarType::Float | ScalarType::Double, _) = p.kind {
                    return Err(header_err(format!(
                        "list property '{}' of element '{}' has a floating-point length type",
                        p.name, e.name
                    )));
                }
            }
        }
        Ok(Self { path, encoding: header.encoding, elements, payload: &bytes[payload_start..] })
    }

    pub(super) fn content_err(&self, message: impl Into<String>) -> PlyError {
        PlyError::Content { path: self.path.to_owned(), message: message.into() }
    }

    pub(super) fn element(&self, name: &str) -> Option<&Element> {
        self.elements.iter().find(|e| e.name == name)
    }

    /// For a binary file whose element `target` has only scalar properties: its bytes, record size,
    /// and the offset and type of each `wanted` property (missing ones are an error). `None` for
    /// ASCII files or elements with lists.
    #[allow(clippy::type_complexity)]
    pub(super) fn scalar_records(
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
    pub(super) fn read(&self, target: &str, wanted: &[&str]) -> Result<ElementValues, PlyError> {
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
            if let Some(c) =
                columns.iter().flatten().find(|&&c| matches!(element.props[c].kind, PropertyType::List(..)))
            {
                return Err(self.content_err(format!(
                    "property '{}' of element '{target}' is a list, expected a number",
                    element.props[*c].name
                )));
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
                            needed: (element.count as u64).saturating_mul(element.props.len() as u64 * 2),
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
                                    list.push(self.list_index(next()?, &element.name)?);
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
                                for c in items.chunks_exact(is) {
                                    list.push(self.list_index(read_scalar(c, it, big_endian), &element.name)?);
                                }
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

impl Parsed<'_> {
    /// A list item as an index: a whole number in `0..2³²` (a negative or fractional "index" is an
    /// error, not silently 0).
    fn list_index(&self, v: f64, element: &str) -> Result<u32, PlyError> {
        if v >= 0.0 && v <= f64::from(u32::MAX) && v.fract() == 0.0 {
            Ok(v as u32)
        } else {
            Err(self.content_err(format!("list item {v} in element '{element}' is not an index")))
        }
    }
}

/// Whether `e` has a property called `name`.
pub(super) fn has(e: &Element, name: &str) -> bool {
    e.props.iter().any(|p| p.name == name)
}
