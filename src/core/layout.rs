//! `Layout`: the rotation, translation and uniform scale that place an object's canonical unit
//! cube in the world (the SAM 3D convention), read and written through serde, and
//! [`place_canonical`], which moves splats given in that cube into the world.

use glam::Vec3;
use serde::{Deserialize, Serialize};

use crate::core::geometry::Splats;

/// Why a layout document was refused.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum LayoutError {
    #[error("layout '{field}' must be {expected} finite numbers")]
    Length { field: &'static str, expected: usize },
    #[error("layout scale must be one positive number (uniform)")]
    Scale,
    #[error("layout rotation is a zero quaternion")]
    ZeroRotation,
}

/// Rotation, translation and scale placing the object's unit cube in the world:
/// `world = translation + scale · rotate(rotation_wxyz, object)`.
///
/// JSON: `{"rotation_wxyz": [w, x, y, z], "translation": [x, y, z], "scale": s}`; reading also
/// takes `"rotation"` and `"scale": [s, s, s]`, as SAM 3D Objects writes them. The rotation is
/// normalised on reading.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "LayoutFile")]
pub struct Layout {
    pub rotation_wxyz: [f64; 4],
    pub translation: [f64; 3],
    pub scale: f64,
}

/// A number, or a list of numbers (SAM 3D Objects writes the scale as three equal numbers).
#[derive(Deserialize)]
#[serde(untagged)]
enum Numbers {
    One(f64),
    Many(Vec<f64>),
}

impl Numbers {
    fn exactly(self, field: &'static str, expected: usize) -> Result<Vec<f64>, LayoutError> {
        let list = match self {
            Numbers::One(x) => vec![x; expected],
            Numbers::Many(v) => v,
        };
        if list.len() != expected || list.iter().any(|x| !x.is_finite()) {
            return Err(LayoutError::Length { field, expected });
        }
        Ok(list)
    }
}

/// The layout as files hold it, before validation.
#[derive(Deserialize)]
struct LayoutFile {
    #[serde(alias = "rotation")]
    rotation_wxyz: Numbers,
    translation: Numbers,
    scale: Numbers,
}

impl TryFrom<LayoutFile> for Layout {
    type Error = LayoutError;

    fn try_from(file: LayoutFile) -> Result<Self, LayoutError> {
        let r = file.rotation_wxyz.exactly("rotation_wxyz", 4)?;
        let t = file.translation.exactly("translation", 3)?;
        let s = file.scale.exactly("scale", 3)?;
        if (s[0] - s[1]).abs() > 1e-6 * s[0].abs() || (s[0] - s[2]).abs() > 1e-6 * s[0].abs() || s[0] <= 0.0 {
            return Err(LayoutError::Scale);
        }
        let norm = r.iter().map(|x| x * x).sum::<f64>().sqrt();
        if norm == 0.0 {
            return Err(LayoutError::ZeroRotation);
        }
        Ok(Layout {
            rotation_wxyz: [r[0] / norm, r[1] / norm, r[2] / norm, r[3] / norm],
            translation: [t[0], t[1], t[2]],
            scale: s[0],
        })
    }
}

/// Places splats given in the object's canonical unit cube (as SAM 3D Objects writes them, SH
/// degree 0) into the world with `layout`: positions and orientations rotated, scaled and
/// translated, extents scaled. The result sits in the same scene as Carve's own lifts.
pub fn place_canonical(splats: &Splats, layout: &Layout) -> Splats {
    let [w, x, y, z] = layout.rotation_wxyz.map(|v| v as f32);
    let rot = glam::Quat::from_xyzw(x, y, z, w).normalize();
    let t = Vec3::from_array(layout.translation.map(|v| v as f32));
    let s = layout.scale as f32;
    let mut out = splats.clone();
    for p in &mut out.positions {
        *p = (t + rot * Vec3::from_array(*p) * s).to_array();
    }
    for sc in &mut out.scales {
        *sc = sc.map(|v| v * s);
    }
    for q in &mut out.rotations {
        let local = glam::Quat::from_xyzw(q[1], q[2], q[3], q[0]);
        let world = (rot * local).normalize();
        *q = [world.w, world.x, world.y, world.z];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(value: serde_json::Value) -> Result<Layout, serde_json::Error> {
        serde_json::from_value(value)
    }

    #[test]
    fn canonical_splats_are_placed_by_the_layout() {
        let mut s = Splats::default();
        s.push_rgb([0.5, 0.0, 0.0], [0.01; 3], [1.0, 0.0, 0.0, 0.0], 0.9, [1.0, 0.0, 0.0]);
        // 90° about +y, scale 2, moved to z = 3.
        let half = std::f64::consts::FRAC_1_SQRT_2;
        let layout =
            read(serde_json::json!({"rotation": [half, 0.0, half, 0.0], "translation": [0, 0, 3], "scale": [2, 2, 2]}))
                .unwrap();
        let placed = place_canonical(&s, &layout);
        let p = Vec3::from_array(placed.positions[0]);
        assert!((p - Vec3::new(0.0, 0.0, 2.0)).length() < 1e-5, "{p}");
        assert!((placed.scales[0][0] - 0.02).abs() < 1e-7);
        let q = placed.rotations[0];
        assert!((q[0] - half as f32).abs() < 1e-5 && (q[2] - half as f32).abs() < 1e-5);
    }

    #[test]
    fn bad_layouts_are_refused_with_the_reason() {
        let short = read(serde_json::json!({"rotation": [1, 0, 0, 0], "translation": [0, 0], "scale": 1}));
        assert!(short.unwrap_err().to_string().contains("'translation' must be 3"));
        let skew = read(serde_json::json!({"rotation": [1, 0, 0, 0], "translation": [0, 0, 0], "scale": [1, 2, 1]}));
        assert!(skew.unwrap_err().to_string().contains("uniform"));
        let zero = read(serde_json::json!({"rotation_wxyz": [0, 0, 0, 0], "translation": [0, 0, 0], "scale": 1}));
        assert!(zero.unwrap_err().to_string().contains("zero quaternion"));
        assert!(read(serde_json::json!({"translation": [0, 0, 0], "scale": 1})).is_err());
        // What Carve writes reads back unchanged.
        let layout = Layout { rotation_wxyz: [1.0, 0.0, 0.0, 0.0], translation: [0.1, -0.2, 3.0], scale: 0.5 };
        assert_eq!(read(serde_json::to_value(layout).unwrap()).unwrap(), layout);
    }
}
