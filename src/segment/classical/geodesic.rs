//! Geodesic distance on the working grid: Dijkstra over 8-neighbours where a step costs its length
//! times `1 + contrast · ‖ΔI‖ / ⟨‖ΔI‖⟩`, so distances grow slowly inside a region and jump across
//! its edges. A click's geodesic neighbourhood is "this region", not "this colour".

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use super::grid::Grid;

#[derive(PartialEq)]
struct Entry(f32, u32);

impl Eq for Entry {}

impl Ord for Entry {
    fn cmp(&self, other: &Self) -> Ordering {
        // Min-heap on distance.
        other.0.total_cmp(&self.0).then(other.1.cmp(&self.1))
    }
}

impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Mean colour distance between 8-neighbours (the unit of contrast), at least 1.
pub fn mean_step(grid: &Grid) -> f32 {
    let (mut sum, mut n) = (0f64, 0u64);
    grid.for_each_pair(|i, j, _| {
        sum += f64::from(super::grid::colour_dist2(grid.colour[i], grid.colour[j]).sqrt());
        n += 1;
    });
    if n == 0 { 1.0 } else { ((sum / n as f64) as f32).max(1.0) }
}

/// Geodesic distance (in cells) from `seeds` to every cell; `f32::INFINITY` where unreachable.
pub fn distance(grid: &Grid, seeds: &[usize], contrast: f32, unit: f32) -> Vec<f32> {
    let n = grid.len();
    let mut dist = vec![f32::INFINITY; n];
    let mut heap = BinaryHeap::new();
    for &s in seeds {
        if s < n && dist[s] > 0.0 {
            dist[s] = 0.0;
            heap.push(Entry(0.0, s as u32));
        }
    }
    let (w, h) = (grid.w as i64, grid.h as i64);
    while let Some(Entry(d, i)) = heap.pop() {
        let i = i as usize;
        if d > dist[i] {
            continue;
        }
        let (x, y) = ((i % grid.w) as i64, (i / grid.w) as i64);
        for dy in -1..=1i64 {
            for dx in -1..=1i64 {
                if dx == 0 && dy == 0 {
                    continue;
                }
                let (nx, ny) = (x + dx, y + dy);
                if nx < 0 || ny < 0 || nx >= w || ny >= h {
                    continue;
                }
                let j = (ny * w + nx) as usize;
                let len = if dx != 0 && dy != 0 { std::f32::consts::SQRT_2 } else { 1.0 };
                let step = super::grid::colour_dist2(grid.colour[i], grid.colour[j]).sqrt() / unit;
                let nd = d + len * (1.0 + contrast * step);
                if nd < dist[j] {
                    dist[j] = nd;
                    heap.push(Entry(nd, j as u32));
                }
            }
        }
    }
    dist
}

/// The cheapest 8-connected path from any of `sources` to any cell where `target` holds, where
/// entering a cell costs `cost[i]` (`f32::INFINITY`: blocked). Returns the path's cells, source
/// first, or an empty path when no target is reachable.
pub fn cheapest_path(w: usize, h: usize, sources: &[usize], cost: &[f32], target: &[bool]) -> Vec<usize> {
    let n = w * h;
    let mut dist = vec![f32::INFINITY; n];
    let mut from = vec![u32::MAX; n];
    let mut heap = BinaryHeap::new();
    for &s in sources {
        if s < n && dist[s] > 0.0 {
            dist[s] = 0.0;
            heap.push(Entry(0.0, s as u32));
        }
    }
    let mut reached = None;
    while let Some(Entry(d, i)) = heap.pop() {
        let i = i as usize;
        if d > dist[i] {
            continue;
        }
        if target[i] {
            reached = Some(i);
            break;
        }
        let (x, y) = ((i % w) as i64, (i / w) as i64);
        for dy in -1..=1i64 {
            for dx in -1..=1i64 {
                let (nx, ny) = (x + dx, y + dy);
                if (dx == 0 && dy == 0) || nx < 0 || ny < 0 || nx >= w as i64 || ny >= h as i64 {
                    continue;
                }
                let j = ny as usize * w + nx as usize;
                let nd = d + cost[j];
                if nd < dist[j] {
                    dist[j] = nd;
                    from[j] = i as u32;
                    heap.push(Entry(nd, j as u32));
                }
            }
        }
    }
    let mut path = Vec::new();
    let mut at = reached;
    while let Some(i) = at {
        path.push(i);
        at = (from[i] != u32::MAX).then_some(from[i] as usize);
    }
    path.reverse();
    path
}
