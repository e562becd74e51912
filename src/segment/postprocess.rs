//! Mask clean-up after segmentation: drop specks (small foreground components) and fill small
//! holes (small background components not touching the image border).

use crate::core::mask::Mask;

/// Post-processing settings, in pixels of the mask.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Cleanup {
    /// Foreground components smaller than this are dropped (0 = keep all).
    pub min_speck_px: u64,
    /// Holes smaller than this are filled (0 = keep all holes).
    pub max_hole_px: u64,
}

impl Default for Cleanup {
    fn default() -> Self {
        Self { min_speck_px: 64, max_hole_px: 64 }
    }
}

impl Cleanup {
    /// Settings scaled to an image: specks and holes below ~0.01 % of the image area (≥ 16 px).
    pub fn for_image(width: u32, height: u32) -> Self {
        let px = ((u64::from(width) * u64::from(height)) / 10_000).max(16);
        Self { min_speck_px: px, max_hole_px: px }
    }

    /// Applies the clean-up. The largest component is always kept, so a small object never vanishes.
    pub fn apply(&self, mask: &Mask) -> Mask {
        let mut out = mask.clone();
        if self.min_speck_px > 0 {
            let (labels, areas) = mask.components();
            let largest = areas.iter().enumerate().skip(1).max_by_key(|(_, a)| **a).map(|(i, _)| i as u32);
            for (i, &label) in labels.iter().enumerate() {
                if label != 0 && Some(label) != largest && areas[label as usize] < self.min_speck_px {
                    out.set((i % mask.width() as usize) as u32, (i / mask.width() as usize) as u32, false);
                }
            }
        }
        if self.max_hole_px > 0 {
            let background = out.inverted();
            let (labels, areas) = background.components();
            let (w, h) = (mask.width() as usize, mask.height() as usize);
            let mut touches_border = vec![false; areas.len()];
            for (i, &label) in labels.iter().enumerate() {
                let (x, y) = (i % w, i / w);
                if label != 0 && (x == 0 || y == 0 || x + 1 == w || y + 1 == h) {
                    touches_border[label as usize] = true;
                }
            }
            for (i, &label) in labels.iter().enumerate() {
                if label != 0 && !touches_border[label as usize] && areas[label as usize] < self.max_hole_px {
                    out.set((i % w) as u32, (i / w) as u32, true);
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_specks_and_fills_holes() {
        let mask = Mask::from_fn(60, 60, |x, y| {
            let in_square = (10..50).contains(&x) && (10..50).contains(&y);
            let hole = (20..23).contains(&x) && (20..23).contains(&y);
            let big_hole = (30..45).contains(&x) && (30..45).contains(&y);
            let speck = x == 2 && y == 2;
            (in_square && !hole && !big_hole) || speck
        });
        let clean = Cleanup { min_speck_px: 5, max_hole_px: 20 }.apply(&mask);
        assert!(!clean.get(2, 2), "speck kept");
        assert!(clean.get(21, 21), "small hole kept");
        assert!(!clean.get(35, 35), "big hole filled");
        assert_eq!(clean.area(), 40 * 40 - 15 * 15);
    }
}
