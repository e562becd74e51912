//! Closed-manifold checks of triangle lists: every directed edge once and its reverse once,
//! every vertex used, one fan per vertex; with the Euler characteristic (2 for a sphere).

use std::collections::HashSet;

/// Why a triangle list is not a closed, oriented 2-manifold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifoldError {
    #[error("triangle {index} is degenerate: {triangle:?}")]
    Degenerate { index: usize, triangle: [u32; 3] },
    #[error("triangle {index} uses a vertex outside 0..{vertex_count}")]
    VertexOutOfRange { index: usize, vertex_count: usize },
    #[error("edge {edge:?} is used twice in the same direction (triangle {index})")]
    DuplicateEdge { edge: (u32, u32), index: usize },
    #[error("edge {edge:?} has a single triangle: the surface is open")]
    Open { edge: (u32, u32) },
    #[error("vertex {0} is in no triangle")]
    Unused(usize),
    #[error("vertex {0}: broken fan")]
    BrokenFan(usize),
    #[error("vertex {0} is a pinch point (two fans)")]
    Pinch(usize),
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
pub fn check_closed_manifold(triangles: &[[u32; 3]], vertex_count: usize) -> Result<ManifoldReport, ManifoldError> {
    let mut directed: HashSet<(u32, u32)> = HashSet::with_capacity(triangles.len() * 3);
    for (i, t) in triangles.iter().enumerate() {
        if t[0] == t[1] || t[1] == t[2] || t[0] == t[2] {
            return Err(ManifoldError::Degenerate { index: i, triangle: *t });
        }
        for k in 0..3 {
            let e = (t[k], t[(k + 1) % 3]);
            if e.0 as usize >= vertex_count || e.1 as usize >= vertex_count {
                return Err(ManifoldError::VertexOutOfRange { index: i, vertex_count });
            }
            if !directed.insert(e) {
                return Err(ManifoldError::DuplicateEdge { edge: e, index: i });
            }
        }
    }
    for &(a, b) in &directed {
        if !directed.contains(&(b, a)) {
            return Err(ManifoldError::Open { edge: (a, b) });
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
            return Err(ManifoldError::Unused(v));
        }
        let mut current = fan[0].0;
        for step in 1..=fan.len() {
            let Some(&(_, next)) = fan.iter().find(|(a, _)| *a == current) else {
                return Err(ManifoldError::BrokenFan(v));
            };
            current = next;
            if current == fan[0].0 && step != fan.len() {
                return Err(ManifoldError::Pinch(v));
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
