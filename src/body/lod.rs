//! MHR levels of detail. Every LOD's vertices come from LOD 1 through the official barycentric
//! maps (`lod1_to_lodN_mapping.npz`: a LOD 1 triangle and three weights per vertex), so any LOD 1
//! vertex set — the rest mesh or a posed SAM 3D Body output — gives every LOD exactly.
//!
//! The official triangle lists of LODs 0 and 2–6 live in the `lod?.fbx` files of the MHR assets,
//! which are not redistributable here. [`triangulate_on_surface`] builds a closed, manifold,
//! consistently oriented triangulation of exactly a LOD's vertices on the LOD 1 surface:
//! 1. insert every LOD N vertex into the LOD 1 mesh (face split, or edge split when it lies on an
//!    edge; vertices equal to a LOD 1 corner reuse it);
//! 2. remove every LOD 1 vertex that is not a LOD N vertex by half-edge collapses, shortest edge
//!    first, each checked by the link condition (keeps the surface a manifold of the same genus)
//!    and by a normal test (no fold-overs);
//! 3. flip edges towards the intrinsic Delaunay triangulation where the surface is locally flat.
//!
//! A closed genus-0 surface with V vertices has 2V − 4 triangles, which is also each official
//! LOD's count. The result is cached on disk, keyed by a hash of the inputs.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use super::BodyError;
pub use super::manifold::{ManifoldError, ManifoldReport, check_closed_manifold};
pub use super::triangulate::triangulate_on_surface;
use crate::core::fs::cache_dir;
use crate::io::npz::Npz;

/// Vertex counts of the official LODs 0–6.
pub const LOD_VERTEX_COUNTS: [usize; 7] = [73_639, 18_439, 10_661, 4_899, 2_461, 971, 595];
/// Triangle counts of the official LODs 0–6.
pub const LOD_TRIANGLE_COUNTS: [usize; 7] = [147_274, 36_874, 21_318, 9_794, 4_918, 1_938, 1_186];
/// The LOD the barycentric maps start from.
pub const BASE_LOD: usize = 1;

/// A barycentric map from a source mesh (LOD 1) to the vertices of another LOD.
#[derive(Clone, Debug, PartialEq)]
pub struct LodMap {
    /// A source triangle per target vertex.
    pub triangle_ids: Vec<u32>,
    /// Three weights per target vertex, one per corner of that triangle.
    pub barycentric: Vec<[f64; 3]>,
}

impl LodMap {
    /// Reads an official `lod1_to_lodN_mapping.npz`, checking it against the source triangle count.
    pub fn from_npz(npz: &mut Npz, source_triangles: usize) -> Result<Self, BodyError> {
        let ids = npz.i64("triangle_ids")?;
        let n = ids.data.len();
        let bary = npz.f64_shaped("baryc_coords", &[Some(n), Some(3)])?;
        let path = npz.path().to_owned();
        let bad = |message: String| BodyError::File { path: path.clone(), message };
        if ids.shape.len() != 1 {
            return Err(bad(format!("triangle_ids has shape {:?}, expected [N]", ids.shape)));
        }
        let mut triangle_ids = Vec::with_capacity(n);
        for (i, &t) in ids.data.iter().enumerate() {
            if t < 0 || t as usize >= source_triangles {
                return Err(bad(format!(
                    "triangle_ids[{i}] = {t} is outside the source mesh's {source_triangles} triangles"
                )));
            }
            triangle_ids.push(t as u32);
        }
        let mut barycentric = Vec::with_capacity(n);
        for (i, w) in bary.data.chunks_exact(3).enumerate() {
            let sum = w[0] + w[1] + w[2];
            if !w.iter().all(|v| v.is_finite()) || (sum - 1.0).abs() > 1e-4 {
                return Err(bad(format!("baryc_coords[{i}] = {w:?} does not sum to 1")));
            }
            barycentric.push([w[0], w[1], w[2]]);
        }
        Ok(Self { triangle_ids, barycentric })
    }

    pub fn len(&self) -> usize {
        self.triangle_ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.triangle_ids.is_empty()
    }

    /// The target vertices for `source` vertices (computed in f64, stored as f32).
    pub fn apply(&self, source: &[[f32; 3]], source_triangles: &[[u32; 3]]) -> Vec<[f32; 3]> {
        let mut out = vec![[0.0f32; 3]; self.len()];
        self.apply_into(source, source_triangles, &mut out);
        out
    }

    /// As [`Self::apply`], into a buffer of [`Self::len`] vertices (no allocation).
    pub fn apply_into(&self, source: &[[f32; 3]], source_triangles: &[[u32; 3]], out: &mut [[f32; 3]]) {
        for ((t, w), o) in self.triangle_ids.iter().zip(&self.barycentric).zip(out.iter_mut()) {
            let tri = source_triangles[*t as usize];
            let mut p = [0.0f64; 3];
            for (corner, weight) in tri.iter().zip(w) {
                let v = source[*corner as usize];
                for k in 0..3 {
                    p[k] += weight * v[k] as f64;
                }
            }
            *o = [p[0] as f32, p[1] as f32, p[2] as f32];
        }
    }
}

/// The official MHR LOD data shipped with Carve (`assets/mhr`, Apache-2.0): the LOD 1 rest mesh
/// (centimetres, y up) and the maps to LODs 0 and 2–6.
pub struct MhrLods {
    /// LOD 1 rest vertices, centimetres.
    pub rest_lod1: Vec<[f32; 3]>,
    pub triangles_lod1: Vec<[u32; 3]>,
    /// The face region, 0..1 per LOD 1 vertex (the PLY's red channel).
    pub face_weight: Vec<f32>,
    /// `maps[n]` maps LOD 1 to LOD n; `None` for LOD 1 itself.
    pub maps: [Option<LodMap>; 7],
}

static LOD1_PLY: &[u8] = include_bytes!("../../assets/mhr/lod1_topology_face_mask.ply");
static MAP_BYTES: [&[u8]; 7] = [
    include_bytes!("../../assets/mhr/lod1_to_lod0_mapping.npz"),
    &[],
    include_bytes!("../../assets/mhr/lod1_to_lod2_mapping.npz"),
    include_bytes!("../../assets/mhr/lod1_to_lod3_mapping.npz"),
    include_bytes!("../../assets/mhr/lod1_to_lod4_mapping.npz"),
    include_bytes!("../../assets/mhr/lod1_to_lod5_mapping.npz"),
    include_bytes!("../../assets/mhr/lod1_to_lod6_mapping.npz"),
];

impl MhrLods {
    /// The embedded data, parsed once.
    pub fn embedded() -> &'static MhrLods {
        static DATA: OnceLock<MhrLods> = OnceLock::new();
        DATA.get_or_init(|| match Self::parse_embedded() {
            Ok(d) => d,
            // The bytes are compiled in and checked by the test suite.
            Err(e) => panic!("embedded MHR data is broken: {e}"),
        })
    }

    fn parse_embedded() -> Result<MhrLods, BodyError> {
        let ply_path = Path::new("assets/mhr/lod1_topology_face_mask.ply");
        let mesh = match crate::io::ply::read_ply_bytes(LOD1_PLY, ply_path)
            .map_err(|e| BodyError::File { path: ply_path.into(), message: e.to_string() })?
        {
            crate::io::ply::PlyContent::Mesh(m) => m,
            _ => return Err(BodyError::File { path: ply_path.into(), message: "not a mesh".into() }),
        };
        let triangles_lod1: Vec<[u32; 3]> = mesh.indices.chunks_exact(3).map(|t| [t[0], t[1], t[2]]).collect();
        let mut maps: [Option<LodMap>; 7] = Default::default();
        for (lod, bytes) in MAP_BYTES.iter().enumerate() {
            if lod == BASE_LOD {
                continue;
            }
            let path = PathBuf::from(format!("assets/mhr/lod1_to_lod{lod}_mapping.npz"));
            let mut npz = Npz::from_bytes(bytes.to_vec(), &path)?;
            maps[lod] = Some(LodMap::from_npz(&mut npz, triangles_lod1.len())?);
        }
        let face_weight = match &mesh.colors {
            Some(c) => c.iter().map(|c| c[0].clamp(0.0, 1.0)).collect(),
            None => vec![0.0; mesh.positions.len()],
        };
        Ok(MhrLods { rest_lod1: mesh.positions, triangles_lod1, face_weight, maps })
    }

    /// Every LOD's vertices from LOD 1 vertices (`lod1` must have 18,439 vertices).
    pub fn vertices(&self, lod1: &[[f32; 3]], lod: usize) -> Result<Vec<[f32; 3]>, BodyError> {
        check_lod(lod)?;
        if lod1.len() != self.rest_lod1.len() {
            return Err(BodyError::Invalid(format!(
                "{} vertices given, LOD 1 has {}",
                lod1.len(),
                self.rest_lod1.len()
            )));
        }
        Ok(match &self.maps[lod] {
            None => lod1.to_vec(),
            Some(map) => map.apply(lod1, &self.triangles_lod1),
        })
    }

    /// The triangles of `lod` (LOD 1: the official ones; others: built on the LOD 1 surface,
    /// cached in memory and on disk).
    pub fn triangles(&self, lod: usize) -> Result<&'static [[u32; 3]], BodyError> {
        check_lod(lod)?;
        static CACHE: [OnceLock<Vec<[u32; 3]>>; 7] = [const { OnceLock::new() }; 7];
        if let Some(t) = CACHE[lod].get() {
            return Ok(t);
        }
        let tris = match &self.maps[lod] {
            None => self.triangles_lod1.clone(),
            Some(map) => cached_triangulation(&self.rest_lod1, &self.triangles_lod1, map)?,
        };
        Ok(CACHE[lod].get_or_init(|| tris))
    }
}

/// Errors unless `lod` is 0–6.
pub fn check_lod(lod: usize) -> Result<(), BodyError> {
    if lod < LOD_VERTEX_COUNTS.len() {
        Ok(())
    } else {
        Err(BodyError::Invalid(format!("LOD {lod} does not exist: MHR has LODs 0 to 6")))
    }
}

fn fnv1a(hash: &mut u64, bytes: &[u8]) {
    for b in bytes {
        *hash ^= *b as u64;
        *hash = hash.wrapping_mul(0x100000001b3);
    }
}

/// Version of the cache file layout.
const CACHE_FORMAT_VERSION: u32 = 2;

/// The source text of the triangulation: part of the cache key, so that any change to the
/// algorithm (`triangulate.rs`) invalidates every cached result without anyone bumping a number.
const TRIANGULATION_SOURCE: &str = include_str!("triangulate.rs");

fn cache_path(source: &[[f32; 3]], triangles: &[[u32; 3]], map: &LodMap) -> Option<PathBuf> {
    let mut h = 0xcbf29ce484222325u64;
    fnv1a(&mut h, &CACHE_FORMAT_VERSION.to_le_bytes());
    fnv1a(&mut h, TRIANGULATION_SOURCE.as_bytes());
    fnv1a(&mut h, bytemuck::cast_slice(source));
    fnv1a(&mut h, bytemuck::cast_slice(triangles));
    fnv1a(&mut h, bytemuck::cast_slice(&map.triangle_ids));
    fnv1a(&mut h, bytemuck::cast_slice(&map.barycentric));
    Some(cache_dir()?.join("lods").join(format!("tri-{}-{h:016x}.bin", map.len())))
}

fn cached_triangulation(source: &[[f32; 3]], triangles: &[[u32; 3]], map: &LodMap) -> Result<Vec<[u32; 3]>, BodyError> {
    let path = cache_path(source, triangles, map);
    if let Some(path) = &path
        && let Ok(bytes) = std::fs::read(path)
    {
        let tris: Vec<[u32; 3]> = bytes.chunks_exact(12).map(bytemuck::pod_read_unaligned::<[u32; 3]>).collect();
        if bytes.len().is_multiple_of(12)
            && tris.iter().flatten().all(|&v| (v as usize) < map.len())
            && check_closed_manifold(&tris, map.len()).is_ok()
        {
            tracing::debug!(path = %path.display(), "LOD triangulation read from the cache");
            return Ok(tris);
        }
        tracing::warn!(path = %path.display(), "ignoring a damaged LOD triangulation cache file");
    }
    let start = std::time::Instant::now();
    let tris = triangulate_on_surface(source, triangles, map)?;
    tracing::info!(vertices = map.len(), ms = start.elapsed().as_secs_f64() * 1e3, "LOD triangulated");
    if let Some(path) = path {
        // A cache that cannot be written only costs time on the next run: say so and go on.
        let written = match path.parent() {
            Some(dir) => std::fs::create_dir_all(dir)
                .map_err(|source| crate::core::fs::FileError { path: dir.to_owned(), source })
                .and_then(|()| crate::core::fs::write_atomic(&path, bytemuck::cast_slice(&tris))),
            None => crate::core::fs::write_atomic(&path, bytemuck::cast_slice(&tris)),
        };
        if let Err(e) = written {
            tracing::warn!("LOD triangulation not cached: {e}");
        }
    }
    Ok(tris)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_maps_have_official_counts() {
        let data = MhrLods::embedded();
        assert_eq!(data.rest_lod1.len(), LOD_VERTEX_COUNTS[1]);
        assert_eq!(data.triangles_lod1.len(), LOD_TRIANGLE_COUNTS[1]);
        for lod in [0, 2, 3, 4, 5, 6] {
            assert_eq!(data.maps[lod].as_ref().map(|m| m.len()), Some(LOD_VERTEX_COUNTS[lod]));
        }
    }

    #[test]
    fn lod1_is_closed_genus_zero() {
        let data = MhrLods::embedded();
        let r = check_closed_manifold(&data.triangles_lod1, data.rest_lod1.len()).expect("manifold");
        assert_eq!(r.euler_characteristic, 2);
    }

    #[test]
    fn cached_triangles_are_what_the_current_algorithm_computes() {
        // Whatever the caches hold (memory, disk), LOD 6 equals a fresh triangulation.
        let data = MhrLods::embedded();
        let map = data.maps[6].as_ref().unwrap();
        let fresh = triangulate_on_surface(&data.rest_lod1, &data.triangles_lod1, map).unwrap();
        assert_eq!(data.triangles(6).unwrap(), fresh.as_slice());
        assert_eq!(cached_triangulation(&data.rest_lod1, &data.triangles_lod1, map).unwrap(), fresh);
        // The key covers the algorithm itself.
        assert!(TRIANGULATION_SOURCE.contains("pub fn triangulate_on_surface("));
    }

    #[test]
    fn bad_lod_is_an_error() {
        assert!(check_lod(7).is_err());
        assert!(MhrLods::embedded().vertices(&MhrLods::embedded().rest_lod1, 9).is_err());
    }
}
