//! Boykov–Kolmogorov max-flow / min-cut for the graph cuts of the classical engine.
//!
//! The algorithm of "An Experimental Comparison of Min-Cut/Max-Flow Algorithms for Energy
//! Minimization in Vision" (Boykov & Kolmogorov, PAMI 2004): two search trees grown from the
//! terminals, augmentation along the path where they meet, and adoption of orphaned nodes,
//! with the timestamp/distance heuristic. No crate offers it; grid graphs from images are the
//! measured hot path of segmentation, so it is written here, on flat arrays.

const NONE: u32 = u32::MAX;
/// Parent marker: the node hangs directly off its terminal.
const TERMINAL: u32 = u32::MAX - 1;
/// Parent marker: the node lost its parent and awaits adoption.
const ORPHAN: u32 = u32::MAX - 2;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Tree {
    Free,
    Source,
    Sink,
}

/// A graph with terminal links and paired directed edges; solve with [`Graph::maxflow`].
pub struct Graph {
    /// Residual terminal capacity: > 0 from the source, < 0 to the sink.
    tr_cap: Vec<f32>,
    first: Vec<u32>,
    parent: Vec<u32>,
    tree: Vec<Tree>,
    next_active: Vec<u32>,
    timestamp: Vec<u32>,
    dist: Vec<u32>,
    // Edges come in pairs: e and e ^ 1 are reverses of each other.
    head: Vec<u32>,
    next: Vec<u32>,
    r_cap: Vec<f32>,
    flow: f64,
}

impl Graph {
    /// A graph with `nodes` nodes and room for `edge_pairs` edge pairs.
    pub fn new(nodes: usize, edge_pairs: usize) -> Self {
        Self {
            tr_cap: vec![0.0; nodes],
            first: vec![NONE; nodes],
            parent: vec![NONE; nodes],
            tree: vec![Tree::Free; nodes],
            next_active: vec![NONE; nodes],
            timestamp: vec![0; nodes],
            dist: vec![0; nodes],
            head: Vec::with_capacity(2 * edge_pairs),
            next: Vec::with_capacity(2 * edge_pairs),
            r_cap: Vec::with_capacity(2 * edge_pairs),
            flow: 0.0,
        }
    }

    pub fn node_count(&self) -> usize {
        self.tr_cap.len()
    }

    /// Adds capacities from the source to `node` and from `node` to the sink.
    pub fn add_terminal(&mut self, node: usize, source_cap: f32, sink_cap: f32) {
        let delta = self.tr_cap[node];
        let (s, t) = if delta > 0.0 { (source_cap + delta, sink_cap) } else { (source_cap, sink_cap - delta) };
        // Both links carry min(s, t) for sure: account for it as flow right away.
        self.flow += f64::from(s.min(t));
        self.tr_cap[node] = s - t;
    }

    /// Adds an edge `a → b` with capacity `cap` and `b → a` with `rev_cap`.
    pub fn add_edge(&mut self, a: usize, b: usize, cap: f32, rev_cap: f32) {
        let e = self.head.len() as u32;
        self.head.push(b as u32);
        self.next.push(self.first[a]);
        self.r_cap.push(cap);
        self.first[a] = e;
        self.head.push(a as u32);
        self.next.push(self.first[b]);
        self.r_cap.push(rev_cap);
        self.first[b] = e + 1;
    }

    /// Computes the maximum flow; afterwards [`Graph::is_source_side`] gives the minimum cut.
    pub fn maxflow(&mut self) -> f64 {
        let n = self.node_count();
        let mut active = ActiveQueue::new();
        for i in 0..n {
            if self.tr_cap[i] != 0.0 {
                self.tree[i] = if self.tr_cap[i] > 0.0 { Tree::Source } else { Tree::Sink };
                self.parent[i] = TERMINAL;
                self.dist[i] = 1;
                self.timestamp[i] = 0;
                active.push(&mut self.next_active, i as u32);
            }
        }
        let mut time = 0u32;
        let mut orphans: Vec<u32> = Vec::new();
        let mut current: u32 = NONE;
        loop {
            // Growth: find an edge joining the two trees. The node of the last augmentation is
            // looked at again first (it may have more edges to the other tree).
            if current != NONE {
                self.next_active[current as usize] = NONE;
                if self.parent[current as usize] == NONE {
                    current = NONE;
                }
            }
            let i = if current != NONE {
                current
            } else {
                match active.pop(&mut self.next_active, &self.parent) {
                    Some(i) => i,
                    None => break,
                }
            };
            current = NONE;
            let iu = i as usize;
            let mut meeting_edge = NONE;
            let mut e = self.first[iu];
            while e != NONE {
                let eu = e as usize;
                let j = self.head[eu] as usize;
                let cap = if self.tree[iu] == Tree::Source { self.r_cap[eu] } else { self.r_cap[eu ^ 1] };
                if cap > 0.0 {
                    if self.tree[j] == Tree::Free {
                        self.tree[j] = self.tree[iu];
                        self.parent[j] = e ^ 1;
                        self.timestamp[j] = self.timestamp[iu];
                        self.dist[j] = self.dist[iu] + 1;
                        active.push(&mut self.next_active, j as u32);
                    } else if self.tree[j] != self.tree[iu] {
                        meeting_edge = if self.tree[iu] == Tree::Source { e } else { e ^ 1 };
                        break;
                    } else if self.timestamp[j] <= self.timestamp[iu] && self.dist[j] > self.dist[iu] {
                        // Shorter path to the terminal through i.
                        self.parent[j] = e ^ 1;
                        self.timestamp[j] = self.timestamp[iu];
                        self.dist[j] = self.dist[iu] + 1;
                    }
                }
                e = self.next[eu];
            }
            time += 1;
            if meeting_edge == NONE {
                continue;
            }
            // Mark i as active (so it is not queued twice) while it stays the current node.
            self.next_active[iu] = iu as u32;
            current = i;
            self.augment(meeting_edge as usize, &mut orphans);
            // Adoption.
            while let Some(o) = orphans.pop() {
                self.adopt(o as usize, time, &mut orphans, &mut active);
            }
        }
        self.flow
    }

    /// Whether `node` ends on the source side of the minimum cut.
    pub fn is_source_side(&self, node: usize) -> bool {
        self.tree[node] == Tree::Source
    }

    fn augment(&mut self, middle: usize, orphans: &mut Vec<u32>) {
        // Bottleneck: the middle edge, the source side, the sink side.
        let mut bottleneck = self.r_cap[middle];
        let mut i = self.head[middle ^ 1] as usize;
        loop {
            let e = self.parent[i];
            if e == TERMINAL {
                bottleneck = bottleneck.min(self.tr_cap[i]);
                break;
            }
            bottleneck = bottleneck.min(self.r_cap[e as usize ^ 1]);
            i = self.head[e as usize] as usize;
        }
        let mut i = self.head[middle] as usize;
        loop {
            let e = self.parent[i];
            if e == TERMINAL {
                bottleneck = bottleneck.min(-self.tr_cap[i]);
                break;
            }
            bottleneck = bottleneck.min(self.r_cap[e as usize]);
            i = self.head[e as usize] as usize;
        }
        // Push.
        self.r_cap[middle ^ 1] += bottleneck;
        self.r_cap[middle] -= bottleneck;
        let mut i = self.head[middle ^ 1] as usize;
        loop {
            let e = self.parent[i];
            if e == TERMINAL {
                self.tr_cap[i] -= bottleneck;
                if self.tr_cap[i] <= 0.0 {
                    self.parent[i] = ORPHAN;
                    orphans.push(i as u32);
                }
                break;
            }
            let eu = e as usize;
            self.r_cap[eu] += bottleneck;
            self.r_cap[eu ^ 1] -= bottleneck;
            if self.r_cap[eu ^ 1] <= 0.0 {
                self.parent[i] = ORPHAN;
                orphans.push(i as u32);
            }
            i = self.head[eu] as usize;
        }
        let mut i = self.head[middle] as usize;
        loop {
            let e = self.parent[i];
            if e == TERMINAL {
                self.tr_cap[i] += bottleneck;
                if self.tr_cap[i] >= 0.0 {
                    self.parent[i] = ORPHAN;
                    orphans.push(i as u32);
                }
                break;
            }
            let eu = e as usize;
            self.r_cap[eu ^ 1] += bottleneck;
            self.r_cap[eu] -= bottleneck;
            if self.r_cap[eu] <= 0.0 {
                self.parent[i] = ORPHAN;
                orphans.push(i as u32);
            }
            i = self.head[eu] as usize;
        }
        self.flow += f64::from(bottleneck);
    }

    fn adopt(&mut self, i: usize, time: u32, orphans: &mut Vec<u32>, active: &mut ActiveQueue) {
        let tree = self.tree[i];
        let mut best_edge = NONE;
        let mut best_dist = u32::MAX;
        let mut e = self.first[i];
        while e != NONE {
            let eu = e as usize;
            // The edge from j to i must have residual capacity in this tree's direction.
            let cap = if tree == Tree::Source { self.r_cap[eu ^ 1] } else { self.r_cap[eu] };
            let j = self.head[eu] as usize;
            if cap > 0.0 && self.tree[j] == tree && self.parent[j] != NONE {
                // Walk to the terminal to check j's origin.
                let mut k = j;
                let mut d = 0u32;
                let valid = loop {
                    if self.timestamp[k] == time {
                        d += self.dist[k];
                        break true;
                    }
                    let p = self.parent[k];
                    d += 1;
                    if p == TERMINAL {
                        self.timestamp[k] = time;
                        self.dist[k] = 1;
                        break true;
                    }
                    if p == ORPHAN || p == NONE {
                        break false;
                    }
                    k = self.head[p as usize] as usize;
                };
                if valid {
                    if d < best_dist {
                        best_edge = e;
                        best_dist = d;
                    }
                    // Mark the path with distances.
                    let mut k = j;
                    let mut dd = d;
                    while self.timestamp[k] != time {
                        self.timestamp[k] = time;
                        self.dist[k] = dd;
                        dd -= 1;
                        k = self.head[self.parent[k] as usize] as usize;
                    }
                }
            }
            e = self.next[eu];
        }
        if best_edge != NONE {
            self.parent[i] = best_edge;
            self.timestamp[i] = time;
            self.dist[i] = best_dist + 1;
            return;
        }
        // No parent: i becomes free; its children become orphans, neighbours may be active.
        self.timestamp[i] = 0;
        let mut e = self.first[i];
        while e != NONE {
            let eu = e as usize;
            let j = self.head[eu] as usize;
            if self.tree[j] == tree && self.parent[j] != NONE {
                let cap = if tree == Tree::Source { self.r_cap[eu ^ 1] } else { self.r_cap[eu] };
                if cap > 0.0 {
                    active.push(&mut self.next_active, j as u32);
                }
                let p = self.parent[j];
                if p != TERMINAL && p != ORPHAN && self.head[p as usize] as usize == i {
                    self.parent[j] = ORPHAN;
                    orphans.push(j as u32);
                }
            }
            e = self.next[eu];
        }
        self.tree[i] = Tree::Free;
        self.parent[i] = NONE;
    }
}

/// FIFO of active nodes threaded through `next_active` (a node is queued iff its entry is set).
struct ActiveQueue {
    queue: std::collections::VecDeque<u32>,
}

impl ActiveQueue {
    fn new() -> Self {
        Self { queue: std::collections::VecDeque::new() }
    }

    fn push(&mut self, next_active: &mut [u32], i: u32) {
        if next_active[i as usize] == NONE {
            next_active[i as usize] = i;
            self.queue.push_back(i);
        }
    }

    /// The next active node that is still in a tree.
    fn pop(&mut self, next_active: &mut [u32], parent: &[u32]) -> Option<u32> {
        while let Some(i) = self.queue.pop_front() {
            next_active[i as usize] = NONE;
            if parent[i as usize] != NONE {
                return Some(i);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Brute-force minimum cut over all 2^n labellings.
    fn brute_force(n: usize, terminals: &[(f32, f32)], edges: &[(usize, usize, f32, f32)]) -> f64 {
        let mut best = f64::MAX;
        for labels in 0u32..(1 << n) {
            let source = |i: usize| labels & (1 << i) != 0;
            let mut cut = 0.0f64;
            for (i, &(s, t)) in terminals.iter().enumerate() {
                cut += f64::from(if source(i) { t } else { s });
            }
            for &(a, b, c, r) in edges {
                if source(a) && !source(b) {
                    cut += f64::from(c);
                }
                if source(b) && !source(a) {
                    cut += f64::from(r);
                }
            }
            best = best.min(cut);
        }
        best
    }

    #[test]
    fn matches_brute_force_on_random_graphs() {
        let mut seed = 12345u64;
        let mut rand = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % 1000) as f32 / 100.0
        };
        for _ in 0..300 {
            let n = 2 + (rand() as usize % 9);
            let terminals: Vec<(f32, f32)> = (0..n).map(|_| (rand().max(0.0) * 0.7, rand() * 0.7)).collect();
            let mut edges = Vec::new();
            for a in 0..n {
                for b in a + 1..n {
                    if rand() < 5.0 {
                        edges.push((a, b, rand(), rand()));
                    }
                }
            }
            let mut g = Graph::new(n, edges.len());
            for (i, &(s, t)) in terminals.iter().enumerate() {
                g.add_terminal(i, s, t);
            }
            for &(a, b, c, r) in &edges {
                g.add_edge(a, b, c, r);
            }
            let flow = g.maxflow();
            let expected = brute_force(n, &terminals, &edges);
            assert!((flow - expected).abs() < 1e-3, "flow {flow} vs min cut {expected}");
            // The reported cut has the same cost as the flow.
            let mut cut = 0.0f64;
            for (i, &(s, t)) in terminals.iter().enumerate() {
                cut += f64::from(if g.is_source_side(i) { t } else { s });
            }
            for &(a, b, c, r) in &edges {
                if g.is_source_side(a) && !g.is_source_side(b) {
                    cut += f64::from(c);
                }
                if g.is_source_side(b) && !g.is_source_side(a) {
                    cut += f64::from(r);
                }
            }
            assert!((cut - expected).abs() < 1e-3, "cut {cut} vs {expected}");
        }
    }
}
