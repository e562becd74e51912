//! Polygons of a mask and back: exact pixel-boundary contours (a crack-following tracer, outer
//! rings clockwise on screen and holes counter-clockwise, 8-connected), Douglas–Peucker
//! simplification, and even-odd rasterisation at pixel centres.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::Mask;

impl Mask {
    /// Exact boundary polygons along pixel edges (vertices on pixel corners). Outer rings run
    /// clockwise on screen (positive [`Polygon::signed_area`]), holes counter-clockwise.
    /// Diagonally touching pixels belong to one ring (8-connectivity). Rasterising the result
    /// with [`Mask::from_polygons`] gives back this mask exactly.
    pub fn polygons(&self) -> Vec<Polygon> {
        trace_contours(self)
    }

    /// Rasterises polygons with the even-odd rule, sampling pixel centres.
    pub fn from_polygons(width: u32, height: u32, polygons: &[Polygon]) -> Self {
        let mut mask = Mask::new(width, height);
        let mut xs: Vec<f64> = Vec::new();
        for y in 0..height {
            let yc = f64::from(y) + 0.5;
            xs.clear();
            for poly in polygons {
                let n = poly.points.len();
                for i in 0..n {
                    let [ax, ay] = poly.points[i];
                    let [bx, by] = poly.points[(i + 1) % n];
                    if (ay <= yc) != (by <= yc) {
                        xs.push(ax + (yc - ay) * (bx - ax) / (by - ay));
                    }
                }
            }
            xs.sort_by(f64::total_cmp);
            for pair in xs.chunks_exact(2) {
                // Pixel centres x + 0.5 in [pair[0], pair[1]).
                let start = (pair[0] - 0.5).ceil().max(0.0);
                let end = (pair[1] - 0.5).ceil().min(f64::from(width));
                let mut x = start;
                while x < end {
                    mask.set(x as u32, y, true);
                    x += 1.0;
                }
            }
        }
        mask
    }
}

/// A closed polygon in pixel coordinates (see the pixel convention in [`crate::core`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Polygon {
    pub points: Vec<[f64; 2]>,
}

impl Polygon {
    /// Shoelace area in image coordinates (y down): positive for clockwise-on-screen rings.
    pub fn signed_area(&self) -> f64 {
        let n = self.points.len();
        (0..n)
            .map(|i| {
                let [ax, ay] = self.points[i];
                let [bx, by] = self.points[(i + 1) % n];
                ax * by - bx * ay
            })
            .sum::<f64>()
            / 2.0
    }

    /// Whether this ring is a hole (counter-clockwise on screen).
    pub fn is_hole(&self) -> bool {
        self.signed_area() < 0.0
    }

    /// Douglas–Peucker simplification with tolerance `tolerance_px`; keeps at least 3 points.
    pub fn simplified(&self, tolerance_px: f64) -> Polygon {
        let n = self.points.len();
        if n <= 3 || tolerance_px <= 0.0 {
            return self.clone();
        }
        // Split the closed ring at the point farthest from the first one.
        let p0 = self.points[0];
        let far =
            (1..n).max_by(|&a, &b| dist2(self.points[a], p0).total_cmp(&dist2(self.points[b], p0))).unwrap_or(n / 2);
        let mut keep = vec![false; n + 1];
        keep[0] = true;
        keep[far] = true;
        keep[n] = true;
        let ring: Vec<[f64; 2]> = self.points.iter().copied().chain(std::iter::once(p0)).collect();
        douglas_peucker(&ring, 0, far, tolerance_px * tolerance_px, &mut keep);
        douglas_peucker(&ring, far, n, tolerance_px * tolerance_px, &mut keep);
        let points: Vec<[f64; 2]> = (0..n).filter(|&i| keep[i]).map(|i| ring[i]).collect();
        if points.len() < 3 { self.clone() } else { Polygon { points } }
    }

    /// COCO polygon form: `[x0, y0, x1, y1, …]`.
    pub fn to_coco(&self) -> Vec<f64> {
        self.points.iter().flat_map(|p| [p[0], p[1]]).collect()
    }
}

fn dist2(a: [f64; 2], b: [f64; 2]) -> f64 {
    (a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)
}

fn douglas_peucker(pts: &[[f64; 2]], first: usize, last: usize, tol2: f64, keep: &mut [bool]) {
    if last <= first + 1 {
        return;
    }
    let (a, b) = (pts[first], pts[last]);
    let (dx, dy) = (b[0] - a[0], b[1] - a[1]);
    let len2 = dx * dx + dy * dy;
    let mut best = (0.0, first);
    for (i, &p) in pts.iter().enumerate().take(last).skip(first + 1) {
        let d2 = if len2 == 0.0 {
            dist2(p, a)
        } else {
            let cross = dx * (p[1] - a[1]) - dy * (p[0] - a[0]);
            cross * cross / len2
        };
        if d2 > best.0 {
            best = (d2, i);
        }
    }
    if best.0 > tol2 {
        keep[best.1] = true;
        douglas_peucker(pts, first, best.1, tol2, keep);
        douglas_peucker(pts, best.1, last, tol2, keep);
    }
}

/// Crack-following contour tracer. Every boundary edge of every inside pixel is a directed edge
/// with the inside on its right (on screen); edges are chained into rings, taking the left-most
/// turn at saddle corners so diagonal neighbours join one ring.
fn trace_contours(mask: &Mask) -> Vec<Polygon> {
    type V = (i64, i64);
    // Directions: 0 = +x, 1 = +y, 2 = -x, 3 = -y (screen: right, down, left, up).
    const STEP: [V; 4] = [(1, 0), (0, 1), (-1, 0), (0, -1)];
    let inside = |x: i64, y: i64| x >= 0 && y >= 0 && mask.get(x as u32, y as u32);
    let mut out_edges: HashMap<V, [Option<u8>; 2]> = HashMap::new();
    let mut add = |v: V, dir: u8| {
        let slot = out_edges.entry(v).or_insert([None, None]);
        if slot[0].is_none() {
            slot[0] = Some(dir);
        } else {
            slot[1] = Some(dir);
        }
    };
    for y in 0..i64::from(mask.height) {
        for x in 0..i64::from(mask.width) {
            if !inside(x, y) {
                continue;
            }
            if !inside(x, y - 1) {
                add((x, y), 0);
            }
            if !inside(x + 1, y) {
                add((x + 1, y), 1);
            }
            if !inside(x, y + 1) {
                add((x + 1, y + 1), 2);
            }
            if !inside(x - 1, y) {
                add((x, y + 1), 3);
            }
        }
    }
    let take = |edges: &mut HashMap<V, [Option<u8>; 2]>, v: V, incoming: Option<u8>| -> Option<u8> {
        let slot = edges.get_mut(&v)?;
        let pick = match (slot[0], slot[1], incoming) {
            (Some(a), Some(b), Some(inc)) => {
                // Prefer the left turn (dir - 1) for 8-connectivity.
                let left = (inc + 3) % 4;
                usize::from(b == left && a != left)
            }
            (Some(_), _, _) => 0,
            (None, Some(_), _) => 1,
            (None, None, _) => return None,
        };
        let dir = slot[pick].take();
        if pick == 0 {
            slot[0] = slot[1].take();
        }
        if slot[0].is_none() {
            edges.remove(&v);
        }
        dir
    };
    let mut starts: Vec<V> = out_edges.keys().copied().collect();
    starts.sort_unstable_by_key(|&(x, y)| (y, x));
    let mut rings = Vec::new();
    for start in starts {
        while let Some(first_dir) = take(&mut out_edges, start, None) {
            let mut points: Vec<V> = vec![start];
            let mut dirs: Vec<u8> = vec![first_dir];
            let mut v = (start.0 + STEP[first_dir as usize].0, start.1 + STEP[first_dir as usize].1);
            let mut dir = first_dir;
            while v != start {
                let Some(next) = take(&mut out_edges, v, Some(dir)) else { break };
                points.push(v);
                dirs.push(next);
                dir = next;
                v = (v.0 + STEP[dir as usize].0, v.1 + STEP[dir as usize].1);
            }
            // Keep only corners (where the direction changes).
            let n = points.len();
            let corners: Vec<[f64; 2]> = (0..n)
                .filter(|&i| dirs[i] != dirs[(i + n - 1) % n])
                .map(|i| [points[i].0 as f64, points[i].1 as f64])
                .collect();
            if corners.len() >= 3 {
                rings.push(Polygon { points: corners });
            }
        }
    }
    rings
}
