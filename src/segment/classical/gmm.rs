//! Gaussian mixture models of per-cell features (colour, texture), GrabCut's colour model: full
//! covariances, initialised by Orchard–Bouman binary splitting (deterministic, no k-means), refitted
//! by hard EM warm-started from the previous fit (each sample to its most likely component).
//! Written by hand (not a linear-algebra crate): the matrices are at most 5×5 and the likelihood is
//! the hot loop of every cut; index loops below read as the formulas (Cholesky, triangular solves).
#![allow(clippy::needless_range_loop)]

/// Most feature dimensions a model handles.
pub const MAX_DIMS: usize = 5;
/// A feature vector; only the first `dims` entries are used.
pub type Feature = [f32; MAX_DIMS];

type Mat = [[f64; MAX_DIMS]; MAX_DIMS];

#[derive(Clone, Debug)]
struct Component {
    mean: Feature,
    /// Lower Cholesky factor of the covariance.
    chol: [[f32; MAX_DIMS]; MAX_DIMS],
    /// log(weight) − ½ log det Σ − (d/2) log 2π.
    log_coef: f32,
}

/// A mixture of full-covariance Gaussians.
#[derive(Clone, Debug)]
pub struct Gmm {
    dims: usize,
    comps: Vec<Component>,
}

/// Weighted first and second moments of a set of samples.
#[derive(Clone)]
struct Stats {
    n: f64,
    sum: [f64; MAX_DIMS],
    outer: Mat,
}

impl Stats {
    fn new() -> Self {
        Self { n: 0.0, sum: [0.0; MAX_DIMS], outer: [[0.0; MAX_DIMS]; MAX_DIMS] }
    }

    fn add(&mut self, x: &Feature, w: f64, dims: usize) {
        self.n += w;
        for a in 0..dims {
            let xa = f64::from(x[a]) * w;
            self.sum[a] += xa;
            for b in 0..=a {
                self.outer[a][b] += xa * f64::from(x[b]);
            }
        }
    }

    fn mean_cov(&self, dims: usize, floor: f64) -> ([f64; MAX_DIMS], Mat) {
        let mut mean = [0.0; MAX_DIMS];
        for a in 0..dims {
            mean[a] = self.sum[a] / self.n;
        }
        let mut cov = [[0.0; MAX_DIMS]; MAX_DIMS];
        for a in 0..dims {
            for b in 0..=a {
                let c = self.outer[a][b] / self.n - mean[a] * mean[b];
                cov[a][b] = c;
                cov[b][a] = c;
            }
            cov[a][a] += floor;
        }
        (mean, cov)
    }
}

/// Cholesky factor of a symmetric positive-definite matrix (None when it is not).
fn cholesky(m: &Mat, dims: usize) -> Option<Mat> {
    let mut l = [[0.0; MAX_DIMS]; MAX_DIMS];
    for i in 0..dims {
        for j in 0..=i {
            let mut s = m[i][j];
            for k in 0..j {
                s -= l[i][k] * l[j][k];
            }
            if i == j {
                if s <= 1e-12 {
                    return None;
                }
                l[i][i] = s.sqrt();
            } else {
                l[i][j] = s / l[j][j];
            }
        }
    }
    Some(l)
}

/// Largest eigenvector (power iteration) of a covariance, and its eigenvalue.
fn principal_axis(cov: &Mat, dims: usize) -> ([f64; MAX_DIMS], f64) {
    let mut v = [0.0; MAX_DIMS];
    for (a, x) in v.iter_mut().enumerate().take(dims) {
        *x = 1.0 / (1.0 + a as f64);
    }
    let mut lambda = 0.0;
    for _ in 0..30 {
        let mut next = [0.0; MAX_DIMS];
        for a in 0..dims {
            for b in 0..dims {
                next[a] += cov[a][b] * v[b];
            }
        }
        let norm = next[..dims].iter().map(|x| x * x).sum::<f64>().sqrt();
        if norm <= 1e-12 {
            break;
        }
        lambda = norm;
        for a in 0..dims {
            v[a] = next[a] / norm;
        }
    }
    (v, lambda)
}

impl Gmm {
    /// Builds the model from per-component statistics; components with too little weight vanish.
    fn from_stats(stats: &[Stats], dims: usize, floor: f64) -> Option<Self> {
        let total: f64 = stats.iter().map(|s| s.n).sum();
        if total <= 0.0 {
            return None;
        }
        let comps: Vec<Component> = stats
            .iter()
            .filter(|s| s.n > 1e-3 * total && s.n >= 2.0)
            .filter_map(|s| {
                let (mean, cov) = s.mean_cov(dims, floor);
                let l = cholesky(&cov, dims)?;
                let log_det: f64 = (0..dims).map(|a| 2.0 * l[a][a].ln()).sum();
                let mut comp = Component {
                    mean: [0.0; MAX_DIMS],
                    chol: [[0.0; MAX_DIMS]; MAX_DIMS],
                    log_coef: ((s.n / total).ln()
                        - 0.5 * log_det
                        - 0.5 * dims as f64 * (2.0 * std::f64::consts::PI).ln()) as f32,
                };
                for a in 0..dims {
                    comp.mean[a] = mean[a] as f32;
                    for b in 0..dims {
                        comp.chol[a][b] = l[a][b] as f32;
                    }
                }
                Some(comp)
            })
            .collect();
        (!comps.is_empty()).then_some(Self { dims, comps })
    }

    /// Fits `k` components to the samples where `weight(i) > 0`, from `warm` (the previous fit) when
    /// given, else by binary splitting. `floor` is added to every variance (feature units²).
    pub fn fit(
        samples: &[Feature],
        weight: impl Fn(usize) -> f32,
        dims: usize,
        k: usize,
        floor: f32,
        warm: Option<&Gmm>,
    ) -> Option<Self> {
        let floor = f64::from(floor);
        let k = k.max(1);
        let picked: Vec<(usize, f32)> =
            (0..samples.len()).filter_map(|i| Some((i, weight(i))).filter(|&(_, w)| w > 0.0)).collect();
        if picked.is_empty() {
            return None;
        }
        let mut assign: Vec<u8> = match warm.filter(|g| g.dims == dims) {
            Some(g) => picked.iter().map(|&(i, _)| g.best_component(&samples[i]) as u8).collect(),
            None => Self::split_init(samples, &picked, dims, k, floor),
        };
        let n_comp = |assign: &[u8]| assign.iter().copied().max().map_or(1, |m| m as usize + 1);
        // One refit round after the initial assignment: estimate, reassign, estimate.
        let mut model = None;
        for round in 0..2 {
            let mut stats = vec![Stats::new(); n_comp(&assign)];
            for (&(i, w), &c) in picked.iter().zip(&assign) {
                stats[c as usize].add(&samples[i], f64::from(w), dims);
            }
            model = Self::from_stats(&stats, dims, floor);
            if round == 0
                && let Some(m) = &model
            {
                assign = picked.iter().map(|&(i, _)| m.best_component(&samples[i]) as u8).collect();
            }
        }
        model
    }

    /// Orchard–Bouman: repeatedly split the cluster with the largest principal variance through
    /// its mean, perpendicular to that axis.
    fn split_init(samples: &[Feature], picked: &[(usize, f32)], dims: usize, k: usize, floor: f64) -> Vec<u8> {
        let mut assign = vec![0u8; picked.len()];
        for next in 1..k {
            let mut stats = vec![Stats::new(); next];
            for (&(i, w), &c) in picked.iter().zip(&assign) {
                stats[c as usize].add(&samples[i], f64::from(w), dims);
            }
            let best = stats
                .iter()
                .enumerate()
                .filter(|(_, s)| s.n >= 4.0)
                .map(|(c, s)| {
                    let (mean, cov) = s.mean_cov(dims, floor);
                    let (axis, lambda) = principal_axis(&cov, dims);
                    (c, mean, axis, lambda)
                })
                .max_by(|a, b| a.3.total_cmp(&b.3));
            let Some((c, mean, axis, _)) = best else { break };
            for (&(i, _), a) in picked.iter().zip(assign.iter_mut()) {
                if *a as usize == c {
                    let proj: f64 = (0..dims).map(|d| (f64::from(samples[i][d]) - mean[d]) * axis[d]).sum();
                    if proj > 0.0 {
                        *a = next as u8;
                    }
                }
            }
        }
        assign
    }

    /// Log density of component `c` at `x` (with its mixing weight).
    fn log_component(&self, c: usize, x: &Feature) -> f32 {
        let comp = &self.comps[c];
        let mut z = [0f32; MAX_DIMS];
        let mut maha = 0.0;
        for a in 0..self.dims {
            let mut s = x[a] - comp.mean[a];
            for b in 0..a {
                s -= comp.chol[a][b] * z[b];
            }
            z[a] = s / comp.chol[a][a];
            maha += z[a] * z[a];
        }
        comp.log_coef - 0.5 * maha
    }

    fn best_component(&self, x: &Feature) -> usize {
        (0..self.comps.len())
            .map(|c| (c, self.log_component(c, x)))
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map_or(0, |b| b.0)
    }

    /// −log p(x) under the mixture.
    pub fn nll(&self, x: &Feature) -> f32 {
        let mut logs = [0f32; 16];
        let n = self.comps.len().min(16);
        let mut top = f32::NEG_INFINITY;
        for (c, l) in logs.iter_mut().enumerate().take(n) {
            *l = self.log_component(c, x);
            top = top.max(*l);
        }
        let sum: f32 = logs[..n].iter().map(|l| (l - top).exp()).sum();
        -(top + sum.ln())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(v: [f32; 3]) -> Feature {
        [v[0], v[1], v[2], 0.0, 0.0]
    }

    #[test]
    fn two_clusters_are_told_apart() {
        let mut samples = Vec::new();
        for i in 0..200 {
            let t = (i % 10) as f32;
            samples.push(f([200.0 + t, 30.0 - t, 20.0]));
            samples.push(f([20.0, 40.0 + t, 210.0 - t]));
        }
        let g = Gmm::fit(&samples, |_| 1.0, 3, 5, 4.0, None).unwrap();
        let near = g.nll(&f([205.0, 25.0, 20.0]));
        let far = g.nll(&f([120.0, 200.0, 120.0]));
        assert!(near + 10.0 < far, "{near} vs {far}");
        // A warm refit keeps the fit.
        let g2 = Gmm::fit(&samples, |_| 1.0, 3, 5, 4.0, Some(&g)).unwrap();
        assert!((g2.nll(&f([205.0, 25.0, 20.0])) - near).abs() < 1.0);
        assert!(Gmm::fit(&samples, |_| 0.0, 3, 5, 4.0, None).is_none());
    }
}
