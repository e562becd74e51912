//! `Camera`: a pinhole camera with OpenCV axes, placed in the world.
//!
//! **Camera frame (OpenCV):** x right, y down, z forward (the camera looks along +z). A point
//! `p_cam` with `z > 0` projects to pixel `(fx·x/z + cx, fy·y/z + cy)` in continuous pixel
//! coordinates (origin at the image's top-left corner, see [`crate::core`]). `world_from_camera`
//! maps camera-frame points to world points; its columns are the camera axes and position in the
//! world. JSON form (as in `scene.json`): `{"width", "height", "fx", "fy", "cx", "cy",
//! "world_from_camera": [[4×4 row-major]]}`.

use glam::{DMat4, DVec3, DVec4};
use serde::{Deserialize, Serialize};

/// Errors from building or reading a camera.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum CameraError {
    #[error("camera {field} must be a finite positive number, got {value}")]
    BadIntrinsic { field: &'static str, value: f64 },
    #[error("camera image size must be non-zero, got {width}×{height}")]
    BadSize { width: u32, height: u32 },
    #[error("world_from_camera must be a finite rigid transform (orthonormal rotation, last row 0 0 0 1)")]
    NotRigid,
}

/// A pinhole camera (no distortion) with OpenCV axes.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "CameraJson", into = "CameraJson")]
pub struct Camera {
    pub width: u32,
    pub height: u32,
    pub fx: f64,
    pub fy: f64,
    pub cx: f64,
    pub cy: f64,
    pub world_from_camera: DMat4,
}

impl Camera {
    /// A validated camera.
    pub fn new(
        width: u32,
        height: u32,
        fx: f64,
        fy: f64,
        cx: f64,
        cy: f64,
        world_from_camera: DMat4,
    ) -> Result<Self, CameraError> {
        let camera = Self { width, height, fx, fy, cx, cy, world_from_camera };
        camera.validate()?;
        Ok(camera)
    }

    /// A camera at the world origin (identity pose) with vertical field of view `fov_y_rad`,
    /// square pixels and the principal point at the image centre.
    pub fn from_fov_y(width: u32, height: u32, fov_y_rad: f64) -> Result<Self, CameraError> {
        let camera = Self::centered(width, height, f64::from(height) / 2.0 / (fov_y_rad / 2.0).tan(), DMat4::IDENTITY);
        camera.validate()?;
        Ok(camera)
    }

    /// A camera with square pixels, focal length `focal_px` and the principal point at the centre.
    pub fn centered(width: u32, height: u32, focal_px: f64, world_from_camera: DMat4) -> Self {
        Self {
            width,
            height,
            fx: focal_px,
            fy: focal_px,
            cx: f64::from(width) / 2.0,
            cy: f64::from(height) / 2.0,
            world_from_camera,
        }
    }

    /// The same view at another image size (intrinsics scaled per axis, pose unchanged).
    pub fn resized(&self, width: u32, height: u32) -> Self {
        let (sx, sy) = (f64::from(width) / f64::from(self.width), f64::from(height) / f64::from(self.height));
        Self { width, height, fx: self.fx * sx, fy: self.fy * sy, cx: self.cx * sx, cy: self.cy * sy, ..*self }
    }

    /// Checks intrinsics are finite and positive and the pose is rigid.
    pub fn validate(&self) -> Result<(), CameraError> {
        if self.width == 0 || self.height == 0 || self.width > 65536 || self.height > 65536 {
            return Err(CameraError::BadSize { width: self.width, height: self.height });
        }
        // A focal length outside 0.001 px ..= 1e8 px is no camera (and breaks the projection).
        for (field, value) in [("fx", self.fx), ("fy", self.fy)] {
            if !(value.is_finite() && (1e-3..=1e8).contains(&value)) {
                return Err(CameraError::BadIntrinsic { field, value });
            }
        }
        for (field, value) in [("cx", self.cx), ("cy", self.cy)] {
            if !value.is_finite() {
                return Err(CameraError::BadIntrinsic { field, value });
            }
        }
        let m = self.world_from_camera;
        let r = glam::DMat3::from_mat4(m);
        let rigid = m.is_finite()
            && m.row(3).abs_diff_eq(DVec4::W, 1e-9)
            && (r.transpose() * r).abs_diff_eq(glam::DMat3::IDENTITY, 1e-6)
            && (r.determinant() - 1.0).abs() < 1e-6;
        if rigid { Ok(()) } else { Err(CameraError::NotRigid) }
    }

    /// The inverse pose: world points to the camera frame.
    pub fn camera_from_world(&self) -> DMat4 {
        self.world_from_camera.inverse()
    }

    /// Camera centre in world coordinates.
    pub fn position_world(&self) -> DVec3 {
        self.world_from_camera.w_axis.truncate()
    }

    /// Vertical field of view in radians.
    pub fn fov_y_rad(&self) -> f64 {
        2.0 * (f64::from(self.height) / 2.0 / self.fy).atan()
    }

    /// Projects a world point to `(u_px, v_px, depth)`, or `None` behind the camera.
    pub fn project(&self, point_world: DVec3) -> Option<(f64, f64, f64)> {
        let p = self.camera_from_world().transform_point3(point_world);
        (p.z > 1e-12).then(|| (self.fx * p.x / p.z + self.cx, self.fy * p.y / p.z + self.cy, p.z))
    }

    /// The world point at pixel `(u_px, v_px)` and depth `depth` (distance along camera +z).
    pub fn unproject(&self, u_px: f64, v_px: f64, depth: f64) -> DVec3 {
        let p_cam = DVec3::new((u_px - self.cx) / self.fx * depth, (v_px - self.cy) / self.fy * depth, depth);
        self.world_from_camera.transform_point3(p_cam)
    }

    /// Unit ray direction in world coordinates through pixel `(u_px, v_px)`.
    pub fn ray_world(&self, u_px: f64, v_px: f64) -> DVec3 {
        let d_cam = DVec3::new((u_px - self.cx) / self.fx, (v_px - self.cy) / self.fy, 1.0);
        self.world_from_camera.transform_vector3(d_cam).normalize()
    }
}

/// JSON shape of a camera, with the pose as a row-major 4×4 array.
#[derive(Serialize, Deserialize)]
struct CameraJson {
    width: u32,
    height: u32,
    fx: f64,
    fy: f64,
    cx: f64,
    cy: f64,
    world_from_camera: [[f64; 4]; 4],
}

impl From<Camera> for CameraJson {
    fn from(c: Camera) -> Self {
        let rows = std::array::from_fn(|i| c.world_from_camera.row(i).to_array());
        Self { width: c.width, height: c.height, fx: c.fx, fy: c.fy, cx: c.cx, cy: c.cy, world_from_camera: rows }
    }
}

impl TryFrom<CameraJson> for Camera {
    type Error = CameraError;

    fn try_from(j: CameraJson) -> Result<Self, CameraError> {
        let m = DMat4::from_cols_array_2d(&j.world_from_camera).transpose();
        Camera::new(j.width, j.height, j.fx, j.fy, j.cx, j.cy, m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn posed() -> Camera {
        let world_from_camera = DMat4::from_rotation_translation(
            glam::DQuat::from_euler(glam::EulerRot::YXZ, 0.3, -0.2, 0.1),
            DVec3::new(0.5, -1.0, -3.0),
        );
        Camera::new(640, 480, 500.0, 510.0, 320.5, 239.5, world_from_camera).unwrap()
    }

    #[test]
    fn project_unproject_round_trip() {
        let cam = posed();
        let p = cam.unproject(100.0, 400.0, 2.5);
        let (u, v, d) = cam.project(p).unwrap();
        assert!((u - 100.0).abs() < 1e-9 && (v - 400.0).abs() < 1e-9 && (d - 2.5).abs() < 1e-9);
        let ray = cam.ray_world(100.0, 400.0);
        assert!(((p - cam.position_world()).normalize() - ray).length() < 1e-9);
    }

    #[test]
    fn opencv_axes() {
        let cam = Camera::from_fov_y(200, 100, 60f64.to_radians()).unwrap();
        // A point right of and below the optical axis lands right of and below the centre.
        let (u, v, _) = cam.project(DVec3::new(0.1, 0.1, 1.0)).unwrap();
        assert!(u > 100.0 && v > 50.0);
        assert!(cam.project(DVec3::new(0.0, 0.0, -1.0)).is_none());
        assert!((cam.fov_y_rad() - 60f64.to_radians()).abs() < 1e-12);
    }

    #[test]
    fn json_is_row_major_and_validated() {
        let cam = posed();
        let json = serde_json::to_value(cam).unwrap();
        let t = &json["world_from_camera"];
        assert_eq!(t[0][3].as_f64().unwrap(), 0.5);
        assert_eq!(t[2][3].as_f64().unwrap(), -3.0);
        assert_eq!(t[3], serde_json::json!([0.0, 0.0, 0.0, 1.0]));
        let back: Camera = serde_json::from_value(json.clone()).unwrap();
        assert!(back.world_from_camera.abs_diff_eq(cam.world_from_camera, 1e-12));
        let mut bad = json;
        bad["fx"] = serde_json::json!(-1.0);
        assert!(serde_json::from_value::<Camera>(bad).is_err());
    }
}
