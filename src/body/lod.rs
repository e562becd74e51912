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

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use glam::DVec3;

use super::BodyError;
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

/// Version of the triangulation algorithm: bump it to invalidate caches.
const TRIANGULATION_VERSION: u32 = 1;

fn cache_path(source: &[[f32; 3]], triangles: &[[u32; 3]], map: &LodMap) -> Option<PathBuf> {
    let mut h = 0xcbf29ce484222325u64;
    fnv1a(&mut h, &TRIANGULATION_VERSION.to_le_bytes());
    fnv1a(&mut h, bytemuck::cast_slice(source));
    fnv1a(&mut h, bytemuck::cast_slice(triangles));
    fnv1a(&mut h, bytemuck::cast_slice(&map.triangle_ids));
    fnv1a(&mut h, bytemuck::cast_slice(&map.barycentric));
    let dir = std::env::var_os("CARVE_CACHE_DIR")
        .map(PathBuf::from)
        .or_else(|| dirs::cache_dir().map(|d| d.join("carve")))?;
    Some(dir.join("lods").join(format!("tri-{}-{h:016x}.bin", map.len())))
}

fn cached_triangulation(source: &[[f32; 3]], triangles: &[[u32; 3]], map: &LodMap) -> Result<Vec<[u32; 3]>, BodyError> {
    let path = cache_path(source, triangles, map);
    if let Some(bytes) = path.as_ref().and_then(|p| std::fs::read(p).ok())
        && bytes.len().is_multiple_of(12)
    {
        let tris: Vec<[u32; 3]> = bytes.chunks_exact(12).map(bytemuck::pod_read_unaligned::<[u32; 3]>).collect();
        if tris.iter().flatten().all(|&v| (v as usize) < map.len()) && check_closed_manifold(&tris, map.len()).is_ok() {
            return Ok(tris);
        }
    }
    let tris = triangulate_on_surface(source, triangles, map)?;
    if let Some(path) = path {
        // A cache that cannot be written only costs time on the next run.
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let _ = crate::core::fs::write_atomic(&path, bytemuck::cast_slice(&tris));
    }
    Ok(tris)
}

/// Statistics of a closed manifold check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ManifoldReport {
    pub vertices: usize,
    pub edges: usize,
    pub triangles: usize,
    /// V − E + F (2 for a sphere).
    pub euler_characteristic: i64,
}

/// Checks that `triangles` over `vertex_count` vertices form a closed, oriented 2-manifold: every
/// directed edge appears once and its reverse once, every vertex is used and its faces form a
/// single fan.
pub fn check_closed_manifold(triangles: &[[u32; 3]], vertex_count: usize) -> Result<ManifoldReport, String> {
    let mut directed: HashSet<(u32, u32)> = HashSet::with_capacity(triangles.len() * 3);
    for (i, t) in triangles.iter().enumerate() {
        if t[0] == t[1] || t[1] == t[2] || t[0] == t[2] {
            return Err(format!("triangle {i} is degenerate: {t:?}"));
        }
        for k in 0..3 {
            let e = (t[k], t[(k + 1) % 3]);
            if e.0 as usize >= vertex_count || e.1 as usize >= vertex_count {
                return Err(format!("triangle {i} uses a vertex outside 0..{vertex_count}"));
            }
            if !directed.insert(e) {
                return Err(format!("edge {e:?} is used twice in the same direction (triangle {i})"));
            }
        }
    }
    for &(a, b) in &directed {
        if !directed.contains(&(b, a)) {
            return Err(format!("edge ({a}, {b}) has a single triangle: the surface is open"));
        }
    }
    // One fan per vertex: follow the faces around each vertex.
    let mut next_around: Vec<Vec<(u32, u32)>> = vec![Vec::new(); vertex_count];
    for t in triangles {
        for k in 0..3 {
            next_around[t[k] as usize].push((t[(k + 1) % 3], t[(k + 2) % 3]));
        }
    }
    for (v, fan) in next_around.iter().enumerate() {
        if fan.is_empty() {
            return Err(format!("vertex {v} is in no triangle"));
        }
        let mut current = fan[0].0;
        for step in 1..=fan.len() {
            let Some(&(_, next)) = fan.iter().find(|(a, _)| *a == current) else {
                return Err(format!("vertex {v}: broken fan"));
            };
            current = next;
            if current == fan[0].0 && step != fan.len() {
                return Err(format!("vertex {v} is a pinch point (two fans)"));
            }
        }
    }
    let edges = directed.len() / 2;
    Ok(ManifoldReport {
        vertices: vertex_count,
        edges,
        triangles: triangles.len(),
        euler_characteristic: vertex_count as i64 - edges as i64 + triangles.len() as i64,
    })
}

/// A mutable triangle mesh for the local operations of the triangulation.
struct WorkMesh {
    pos: Vec<DVec3>,
    faces: Vec<[u32; 3]>,
    alive: Vec<bool>,
    /// The source triangle a face lies in (or came from).
    origin: Vec<u32>,
    vertex_faces: Vec<Vec<u32>>,
    origin_faces: Vec<Vec<u32>>,
}

impl WorkMesh {
    fn add_face(&mut self, f: [u32; 3], origin: u32) -> u32 {
        let id = self.faces.len() as u32;
        self.faces.push(f);
        self.alive.push(true);
        self.origin.push(origin);
        for v in f {
            self.vertex_faces[v as usize].push(id);
        }
        self.origin_faces[origin as usize].push(id);
        id
    }

    fn kill_face(&mut self, id: u32) {
        self.alive[id as usize] = false;
        for v in self.faces[id as usize] {
            self.vertex_faces[v as usize].retain(|&f| f != id);
        }
    }

    fn add_vertex(&mut self, p: DVec3) -> u32 {
        self.pos.push(p);
        self.vertex_faces.push(Vec::new());
        (self.pos.len() - 1) as u32
    }

    fn normal(&self, f: [u32; 3]) -> DVec3 {
        let [a, b, c] = f.map(|v| self.pos[v as usize]);
        (b - a).cross(c - a)
    }

    fn split_face(&mut self, id: u32, p: u32) {
        let [a, b, c] = self.faces[id as usize];
        let origin = self.origin[id as usize];
        self.kill_face(id);
        self.add_face([a, b, p], origin);
        self.add_face([b, c, p], origin);
        self.add_face([c, a, p], origin);
    }

    /// Splits edge (a, b) at new vertex p in every face that has it.
    fn split_edge(&mut self, a: u32, b: u32, p: u32) {
        let faces: Vec<u32> =
            self.vertex_faces[a as usize].iter().copied().filter(|&f| self.faces[f as usize].contains(&b)).collect();
        for f in faces {
            let tri = self.faces[f as usize];
            let origin = self.origin[f as usize];
            // Rotate so the edge is (u, v) with w opposite.
            let k = (0..3)
                .find(|&k| {
                    let (u, v) = (tri[k], tri[(k + 1) % 3]);
                    (u == a && v == b) || (u == b && v == a)
                })
                .unwrap_or(0);
            let (u, v, w) = (tri[k], tri[(k + 1) % 3], tri[(k + 2) % 3]);
            self.kill_face(f);
            self.add_face([u, p, w], origin);
            self.add_face([p, v, w], origin);
        }
    }

    fn neighbours(&self, v: u32) -> Vec<u32> {
        let mut n: Vec<u32> =
            self.vertex_faces[v as usize].iter().flat_map(|&f| self.faces[f as usize]).filter(|&u| u != v).collect();
        n.sort_unstable();
        n.dedup();
        n
    }

    /// Can v collapse onto w without breaking the manifold or folding a face?
    /// `min_cos` bounds the turn of every moved face's normal.
    fn collapse_ok(&self, v: u32, w: u32, min_cos: f64) -> bool {
        let nv = self.neighbours(v);
        let nw = self.neighbours(w);
        let shared: Vec<u32> = nv.iter().copied().filter(|u| nw.binary_search(u).is_ok()).collect();
        let opposite: Vec<u32> = self.vertex_faces[v as usize]
            .iter()
            .map(|&f| self.faces[f as usize])
            .filter(|t| t.contains(&w))
            .flat_map(|t| t.into_iter().filter(|&u| u != v && u != w))
            .collect();
        if opposite.len() != 2 || shared.len() != 2 || !opposite.iter().all(|o| shared.contains(o)) {
            return false;
        }
        if nv.len() + nw.len() <= 6 {
            // Would leave a tetrahedron's worth or less around the edge.
            return false;
        }
        for &f in &self.vertex_faces[v as usize] {
            let t = self.faces[f as usize];
            if t.contains(&w) {
                continue;
            }
            let moved = t.map(|u| if u == v { w } else { u });
            let old_n = self.normal(t);
            let new_n = self.normal(moved);
            let (lo, ln) = (old_n.length(), new_n.length());
            if ln <= 1e-14 * (1.0 + lo) {
                return false;
            }
            if lo > 0.0 && old_n.dot(new_n) / (lo * ln) < min_cos {
                return false;
            }
        }
        true
    }

    /// The worst shape quality among the faces a collapse of v onto w would create.
    fn collapse_quality(&self, v: u32, w: u32) -> f64 {
        self.vertex_faces[v as usize]
            .iter()
            .map(|&f| self.faces[f as usize])
            .filter(|t| !t.contains(&w))
            .map(|t| self.quality(t.map(|u| if u == v { w } else { u })))
            .fold(f64::INFINITY, f64::min)
    }

    /// Triangle shape quality: 1 for equilateral, 0 for degenerate.
    fn quality(&self, f: [u32; 3]) -> f64 {
        let [a, b, c] = f.map(|v| self.pos[v as usize]);
        let edges = a.distance_squared(b) + b.distance_squared(c) + c.distance_squared(a);
        if edges <= 0.0 {
            return 0.0;
        }
        2.0 * 3f64.sqrt() * (b - a).cross(c - a).length() / edges
    }

    fn collapse(&mut self, v: u32, w: u32) {
        let faces = self.vertex_faces[v as usize].clone();
        for f in faces {
            let t = self.faces[f as usize];
            let origin = self.origin[f as usize];
            self.kill_face(f);
            if !t.contains(&w) {
                self.add_face(t.map(|u| if u == v { w } else { u }), origin);
            }
        }
    }
}

#[derive(PartialEq)]
struct Candidate {
    cost: f64,
    v: u32,
    stamp: u32,
}

impl Eq for Candidate {}

impl PartialOrd for Candidate {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Candidate {
    fn cmp(&self, other: &Self) -> Ordering {
        // Min-heap on cost.
        other.cost.total_cmp(&self.cost).then_with(|| other.v.cmp(&self.v))
    }
}

/// Builds a closed manifold triangulation of exactly `map`'s vertices on the surface of
/// `source` (see the module doc). Vertex i of the result is map vertex i.
pub fn triangulate_on_surface(
    source: &[[f32; 3]],
    triangles: &[[u32; 3]],
    map: &LodMap,
) -> Result<Vec<[u32; 3]>, BodyError> {
    let fail = |m: String| BodyError::Invalid(format!("LOD triangulation: {m}"));
    let n_source = source.len();
    let mut mesh = WorkMesh {
        pos: source.iter().map(|p| DVec3::new(p[0] as f64, p[1] as f64, p[2] as f64)).collect(),
        faces: Vec::with_capacity(triangles.len() * 4),
        alive: Vec::new(),
        origin: Vec::new(),
        vertex_faces: vec![Vec::new(); n_source],
        origin_faces: vec![Vec::new(); triangles.len()],
    };
    for (i, t) in triangles.iter().enumerate() {
        if t.iter().any(|&v| v as usize >= n_source) {
            return Err(fail(format!("source triangle {i} uses a vertex outside the mesh")));
        }
        mesh.add_face(*t, i as u32);
    }
    // Mesh vertex of each target vertex, and target index of each mesh vertex.
    let mut target_of: Vec<Option<u32>> = vec![None; n_source];
    let mut vertex_of_target = Vec::with_capacity(map.len());
    // 1. Insert the target vertices.
    for (i, (&t, w)) in map.triangle_ids.iter().zip(&map.barycentric).enumerate() {
        let corners = triangles[t as usize];
        let (kmax, wmax) = w.iter().enumerate().fold((0, f64::MIN), |m, (k, &x)| if x > m.1 { (k, x) } else { m });
        let at = |m: &WorkMesh| -> DVec3 { (0..3).map(|k| m.pos[corners[k] as usize] * w[k]).sum() };
        let v = if wmax > 1.0 - 1e-9 {
            corners[kmax]
        } else {
            let q = at(&mesh);
            // The sub-face of the source triangle that holds q.
            let mut best: Option<(u32, [f64; 3])> = None;
            for &f in &mesh.origin_faces[t as usize] {
                if !mesh.alive[f as usize] {
                    continue;
                }
                let b = barycentric_of(&mesh, mesh.faces[f as usize], q);
                let score = b[0].min(b[1]).min(b[2]);
                if best.is_none_or(|(_, bb)| score > bb[0].min(bb[1]).min(bb[2])) {
                    best = Some((f, b));
                }
            }
            let Some((f, b)) = best else { return Err(fail(format!("vertex {i}: its triangle {t} vanished"))) };
            let tri = mesh.faces[f as usize];
            let near_zero: Vec<usize> = (0..3).filter(|&k| b[k] < 1e-7).collect();
            match near_zero.len() {
                0 => {
                    let p = mesh.add_vertex(q);
                    mesh.split_face(f, p);
                    p
                }
                1 => {
                    let k = near_zero[0];
                    let p = mesh.add_vertex(q);
                    mesh.split_edge(tri[(k + 1) % 3], tri[(k + 2) % 3], p);
                    p
                }
                _ => {
                    let k = (0..3).find(|k| !near_zero.contains(k)).unwrap_or(0);
                    tri[k]
                }
            }
        };
        if target_of.len() <= v as usize {
            target_of.resize(v as usize + 1, None);
        }
        if let Some(other) = target_of[v as usize] {
            return Err(fail(format!("vertices {other} and {i} coincide")));
        }
        target_of[v as usize] = Some(i as u32);
        vertex_of_target.push(v);
    }
    target_of.resize(mesh.pos.len(), None);
    // 2. Remove every source vertex that is not a target vertex.
    let mut removed = vec![false; mesh.pos.len()];
    let mut stamps = vec![0u32; mesh.pos.len()];
    let shortest = |mesh: &WorkMesh, v: u32| -> f64 {
        mesh.neighbours(v)
            .iter()
            .map(|&u| mesh.pos[u as usize].distance_squared(mesh.pos[v as usize]))
            .fold(f64::INFINITY, f64::min)
    };
    let mut pending: Vec<u32> = (0..n_source as u32).filter(|&v| target_of[v as usize].is_none()).collect();
    for min_cos in [0.5, 0.0, -0.5, -1.01] {
        let mut heap = BinaryHeap::new();
        for &v in &pending {
            stamps[v as usize] += 1;
            heap.push(Candidate { cost: shortest(&mesh, v), v, stamp: stamps[v as usize] });
        }
        let mut stuck = Vec::new();
        while let Some(Candidate { v, stamp, .. }) = heap.pop() {
            if removed[v as usize] || stamp != stamps[v as usize] {
                continue;
            }
            let mut options: Vec<(f64, u32)> = mesh
                .neighbours(v)
                .into_iter()
                .map(|u| (mesh.pos[u as usize].distance_squared(mesh.pos[v as usize]), u))
                .collect();
            options.sort_by(|a, b| a.0.total_cmp(&b.0));
            // Of the valid targets, the one whose new faces are the best shaped.
            let Some((_, w)) = options
                .iter()
                .filter(|(_, w)| mesh.collapse_ok(v, *w, min_cos))
                .map(|&(_, w)| (mesh.collapse_quality(v, w), w))
                .max_by(|a, b| a.0.total_cmp(&b.0))
            else {
                stuck.push(v);
                continue;
            };
            let around = mesh.neighbours(v);
            mesh.collapse(v, w);
            removed[v as usize] = true;
            for u in around {
                if target_of[u as usize].is_none() && !removed[u as usize] {
                    stamps[u as usize] += 1;
                    heap.push(Candidate { cost: shortest(&mesh, u), v: u, stamp: stamps[u as usize] });
                }
            }
        }
        pending = stuck.into_iter().filter(|&v| !removed[v as usize]).collect();
        pending.sort_unstable();
        pending.dedup();
        if pending.is_empty() {
            break;
        }
    }
    if !pending.is_empty() {
        return Err(fail(format!("{} source vertices could not be removed", pending.len())));
    }
    // 3. Delaunay flips where the surface is nearly flat.
    delaunay_flips(&mut mesh);
    let out: Vec<[u32; 3]> = mesh
        .faces
        .iter()
        .zip(&mesh.alive)
        .filter(|(_, a)| **a)
        .map(|(f, _)| f.map(|v| target_of[v as usize].unwrap_or(u32::MAX)))
        .collect();
    if out.iter().flatten().any(|&v| v == u32::MAX) {
        return Err(fail("a removed vertex is still referenced".into()));
    }
    Ok(out)
}

fn barycentric_of(mesh: &WorkMesh, f: [u32; 3], q: DVec3) -> [f64; 3] {
    let [a, b, c] = f.map(|v| mesh.pos[v as usize]);
    let (v0, v1, v2) = (b - a, c - a, q - a);
    let (d00, d01, d11, d20, d21) = (v0.dot(v0), v0.dot(v1), v1.dot(v1), v2.dot(v0), v2.dot(v1));
    let denom = d00 * d11 - d01 * d01;
    if denom.abs() < 1e-30 {
        return [-1.0; 3];
    }
    let v = (d11 * d20 - d01 * d21) / denom;
    let w = (d00 * d21 - d01 * d20) / denom;
    [1.0 - v - w, v, w]
}

fn angle_at(p: DVec3, a: DVec3, b: DVec3) -> f64 {
    (a - p).angle_between(b - p)
}

/// Flips edges whose two opposite angles sum to more than π, when both faces are nearly coplanar
/// (so the surface does not change) and the flip keeps the mesh manifold.
fn delaunay_flips(mesh: &mut WorkMesh) {
    const MIN_COS_DIHEDRAL: f64 = 0.97;
    for _pass in 0..20 {
        let mut flips = 0;
        for f in 0..mesh.faces.len() as u32 {
            if !mesh.alive[f as usize] {
                continue;
            }
            let t = mesh.faces[f as usize];
            for k in 0..3 {
                let (a, b, c) = (t[k], t[(k + 1) % 3], t[(k + 2) % 3]);
                // The other face with edge (b, a).
                let Some(&g) = mesh.vertex_faces[b as usize].iter().find(|&&g| {
                    g != f && {
                        let s = mesh.faces[g as usize];
                        (0..3).any(|j| s[j] == b && s[(j + 1) % 3] == a)
                    }
                }) else {
                    continue;
                };
                let s = mesh.faces[g as usize];
                let Some(&d) = s.iter().find(|&&u| u != a && u != b) else { continue };
                let [pa, pb, pc, pd] = [a, b, c, d].map(|v| mesh.pos[v as usize]);
                if angle_at(pc, pa, pb) + angle_at(pd, pa, pb) <= std::f64::consts::PI + 1e-9 {
                    continue;
                }
                let (n1, n2) = (mesh.normal(t), mesh.normal(s));
                if n1.normalize_or_zero().dot(n2.normalize_or_zero()) < MIN_COS_DIHEDRAL {
                    continue;
                }
                if mesh.neighbours(c).contains(&d) {
                    continue;
                }
                let (new1, new2) = ([c, a, d], [d, b, c]);
                let (m1, m2) = (mesh.normal(new1), mesh.normal(new2));
                let avg = (n1.normalize_or_zero() + n2.normalize_or_zero()).normalize_or_zero();
                if m1.normalize_or_zero().dot(avg) < MIN_COS_DIHEDRAL
                    || m2.normalize_or_zero().dot(avg) < MIN_COS_DIHEDRAL
                {
                    continue;
                }
                let (o1, o2) = (mesh.origin[f as usize], mesh.origin[g as usize]);
                mesh.kill_face(f);
                mesh.kill_face(g);
                mesh.add_face(new1, o1);
                mesh.add_face(new2, o2);
                flips += 1;
                break;
            }
        }
        if flips == 0 {
            break;
        }
    }
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
    fn bad_lod_is_an_error() {
        assert!(check_lod(7).is_err());
        assert!(MhrLods::embedded().vertices(&MhrLods::embedded().rest_lod1, 9).is_err());
    }
}
