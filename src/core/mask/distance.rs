//! The exact Euclidean distance transform of a mask (Felzenszwalb & Huttenlocher's separable
//! squared-distance transform: a lower envelope of parabolas along columns, then rows).

use super::Mask;

impl Mask {
    /// Euclidean distance (pixels) from each pixel to the nearest outside pixel, row-major; 0
    /// outside. Everything beyond the image border counts as outside. Exact (Felzenszwalb &
    /// Huttenlocher's separable squared-distance transform).
    pub fn distance_to_outside(&self) -> Vec<f32> {
        let (w, h) = (self.width as usize, self.height as usize);
        const INF: f32 = 1e20;
        // Columns: 1-D transform of 0 (outside) / INF (inside), with virtual outside rows at -1 and h.
        let mut cols = vec![0f32; w * h];
        let mut f = vec![0f32; h + 2];
        let mut d = vec![0f32; h + 2];
        for x in 0..w {
            f[0] = 0.0;
            f[h + 1] = 0.0;
            for y in 0..h {
                f[y + 1] = if self.bits[y * w + x] != 0 { INF } else { 0.0 };
            }
            edt_1d(&f, &mut d);
            for y in 0..h {
                cols[y * w + x] = d[y + 1];
            }
        }
        let mut out = vec![0f32; w * h];
        let mut f = vec![0f32; w + 2];
        let mut d = vec![0f32; w + 2];
        for y in 0..h {
            f[0] = 0.0;
            f[w + 1] = 0.0;
            f[1..=w].copy_from_slice(&cols[y * w..(y + 1) * w]);
            edt_1d(&f, &mut d);
            for x in 0..w {
                out[y * w + x] = d[x + 1].sqrt();
            }
        }
        out
    }
}

/// 1-D squared Euclidean distance transform of a sampled function (lower envelope of parabolas).
fn edt_1d(f: &[f32], d: &mut [f32]) {
    let n = f.len();
    let mut v = vec![0usize; n];
    let mut z = vec![0f64; n + 1];
    let mut k = 0usize;
    z[0] = f64::NEG_INFINITY;
    z[1] = f64::INFINITY;
    let parabola = |q: usize| f64::from(f[q]) + (q * q) as f64;
    for q in 1..n {
        let mut s = (parabola(q) - parabola(v[k])) / (2.0 * (q - v[k]) as f64);
        while s <= z[k] {
            k -= 1;
            s = (parabola(q) - parabola(v[k])) / (2.0 * (q - v[k]) as f64);
        }
        k += 1;
        v[k] = q;
        z[k] = s;
        z[k + 1] = f64::INFINITY;
    }
    k = 0;
    for (q, out) in d.iter_mut().enumerate().take(n) {
        while z[k + 1] < q as f64 {
            k += 1;
        }
        let p = v[k];
        *out = ((q as f64 - p as f64).powi(2) + f64::from(f[p])) as f32;
    }
}
