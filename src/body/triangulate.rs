//! Triangulating a LOD's vertices on the LOD 1 surface (see [`super::lod`] for the method):
//! insert the vertices, collapse away the others under the link condition, Delaunay flips.
//! This file's text is part of the LOD cache key, so any change here invalidates cached results.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use glam::DVec3;

use super::BodyError;
use super::lod::LodMap;

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
