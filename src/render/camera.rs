//! Viewport camera math, in one place: an orbit camera (rotate about a target, pan, dolly, frame
//! bounds) that produces a [`Camera`] (OpenCV axes, see `core::camera`), and the clip-space
//! projection the shaders use for any such camera, so a photo's own camera renders exactly.

use glam::{DMat4, DVec3, Mat4, Vec3};

use crate::core::camera::Camera;
use crate::core::geometry::Bounds;

/// Clip-from-camera matrix for OpenCV intrinsics into wgpu clip space (x right, y up, depth 0..1):
/// pixel `(u, v)` of a `width`×`height` image maps to NDC `(2u/W − 1, 1 − 2v/H)`.
pub fn clip_from_camera(camera: &Camera, near: f64, far: f64) -> DMat4 {
    let (w, h) = (f64::from(camera.width), f64::from(camera.height));
    let (a, b) = (far / (far - near), -far * near / (far - near));
    // Columns multiply x, y, z and 1 of the camera-frame point; clip w = z.
    DMat4::from_cols_array_2d(&[
        [2.0 * camera.fx / w, 0.0, 0.0, 0.0],
        [0.0, -2.0 * camera.fy / h, 0.0, 0.0],
        [2.0 * camera.cx / w - 1.0, -(2.0 * camera.cy / h - 1.0), a, 1.0],
        [0.0, 0.0, b, 0.0],
    ])
}

/// Clip-from-world for `camera`, as f32 for the GPU.
pub fn clip_from_world(camera: &Camera, near: f64, far: f64) -> Mat4 {
    (clip_from_camera(camera, near, far) * camera.camera_from_world()).as_mat4()
}

/// An orbit camera: the eye sits `distance` from `target`, at `yaw` about the up axis and
/// `pitch` above the horizon.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OrbitCamera {
    pub target: Vec3,
    pub distance: f32,
    pub yaw_rad: f32,
    pub pitch_rad: f32,
    pub fov_y_rad: f32,
    /// World up (+Y for glTF/MHR scenes, −Y for scenes in OpenCV camera frames).
    pub up: Vec3,
}

impl Default for OrbitCamera {
    fn default() -> Self {
        Self {
            target: Vec3::ZERO,
            distance: 3.0,
            yaw_rad: 0.6,
            pitch_rad: 0.4,
            fov_y_rad: 45f32.to_radians(),
            up: Vec3::Y,
        }
    }
}

impl OrbitCamera {
    /// A 3/4 view framing `bounds` (the whole box fits in the view).
    pub fn framing(bounds: Bounds, up: Vec3) -> Self {
        let mut cam = Self { up, ..Self::default() };
        cam.frame(bounds);
        cam
    }

    /// Moves the target to the centre of `bounds` and backs off until it fits.
    pub fn frame(&mut self, bounds: Bounds) {
        self.target = bounds.center();
        let radius = bounds.radius().max(1e-6);
        self.distance = radius / (self.fov_y_rad * 0.5).sin() * 1.05;
    }

    /// Rotates by pixel deltas of a drag (0.01 rad per pixel); pitch stays short of the poles.
    pub fn orbit(&mut self, dx_px: f32, dy_px: f32) {
        self.yaw_rad -= dx_px * 0.01;
        self.pitch_rad = (self.pitch_rad + dy_px * 0.01).clamp(-1.55, 1.55);
    }

    /// Moves target and eye in the view plane by a drag of pixel deltas in a view `height_px` tall.
    pub fn pan(&mut self, dx_px: f32, dy_px: f32, height_px: f32) {
        let (right, down, _) = self.axes();
        let world_per_px = 2.0 * self.distance * (self.fov_y_rad * 0.5).tan() / height_px.max(1.0);
        self.target += (-right * dx_px - down * dy_px) * world_per_px;
    }

    /// Moves towards the target by `factor` (< 1 closer, > 1 further).
    pub fn dolly(&mut self, factor: f32) {
        self.distance = (self.distance * factor).clamp(1e-4, 1e7);
    }

    /// Eye position in the world.
    pub fn eye(&self) -> Vec3 {
        let up = self.up.normalize_or(Vec3::Y);
        // A horizontal reference perpendicular to up.
        let reference = if up.dot(Vec3::Z).abs() < 0.9 { Vec3::Z } else { Vec3::X };
        let side = up.cross(reference).normalize();
        let front = side.cross(up).normalize();
        let horizontal = front * self.yaw_rad.cos() + side * self.yaw_rad.sin();
        self.target + (horizontal * self.pitch_rad.cos() + up * self.pitch_rad.sin()) * self.distance
    }

    /// Camera axes in the world (OpenCV): right, down, forward.
    fn axes(&self) -> (Vec3, Vec3, Vec3) {
        let forward = (self.target - self.eye()).normalize_or(Vec3::NEG_Z);
        let down_ref = -self.up.normalize_or(Vec3::Y);
        let right = down_ref.cross(forward).normalize_or(Vec3::X);
        let down = forward.cross(right);
        (right, down, forward)
    }

    /// The camera for a `width`×`height` view.
    pub fn camera(&self, width: u32, height: u32) -> Camera {
        let (right, down, forward) = self.axes();
        let eye = self.eye();
        let world_from_camera = DMat4::from_cols(
            right.as_dvec3().extend(0.0),
            down.as_dvec3().extend(0.0),
            forward.as_dvec3().extend(0.0),
            eye.as_dvec3().extend(1.0),
        );
        Camera::centered(
            width,
            height,
            f64::from(height) / 2.0 / (f64::from(self.fov_y_rad) / 2.0).tan(),
            world_from_camera,
        )
    }
}

/// Near and far planes that enclose `bounds` seen from `camera` (with margin).
pub fn near_far(camera: &Camera, bounds: Option<Bounds>) -> (f64, f64) {
    let Some(b) = bounds else { return (0.01, 1000.0) };
    let centre = camera.camera_from_world().transform_point3(b.center().as_dvec3());
    let r = f64::from(b.radius()).max(1e-6);
    let far = (centre.z + r * 1.5).max(r * 0.1);
    let near = (centre.z - r * 1.5).max(far * 1e-4);
    (near, far)
}

/// Unit vector helper for tests and callers working in f64.
pub fn to_dvec(v: Vec3) -> DVec3 {
    v.as_dvec3()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn projection_matches_pinhole_pixels() {
        let cam = Camera::new(640, 480, 500.0, 520.0, 300.0, 250.0, DMat4::IDENTITY).unwrap();
        let clip = clip_from_camera(&cam, 0.1, 100.0);
        let p = DVec3::new(0.3, -0.2, 2.0);
        let c = clip * p.extend(1.0);
        let (u, v, _) = cam.project(p).unwrap();
        assert!(((c.x / c.w + 1.0) / 2.0 * 640.0 - u).abs() < 1e-9);
        assert!(((1.0 - c.y / c.w) / 2.0 * 480.0 - v).abs() < 1e-9);
        let near = clip * DVec3::new(0.0, 0.0, 0.1).extend(1.0);
        let far = clip * DVec3::new(0.0, 0.0, 100.0).extend(1.0);
        assert!((near.z / near.w).abs() < 1e-9 && (far.z / far.w - 1.0).abs() < 1e-9);
    }

    #[test]
    fn orbit_camera_looks_at_its_target() {
        let bounds = Bounds { min: Vec3::splat(-1.0), max: Vec3::splat(1.0) };
        let orbit = OrbitCamera::framing(bounds, Vec3::Y);
        let cam = orbit.camera(400, 300);
        let (u, v, d) = cam.project(DVec3::ZERO).unwrap();
        assert!((u - 200.0).abs() < 1e-3 && (v - 150.0).abs() < 1e-3 && d > 0.0);
        // World up appears up on screen: a point above the target projects higher (smaller v).
        let (_, v_up, _) = cam.project(DVec3::new(0.0, 0.5, 0.0)).unwrap();
        assert!(v_up < v);
        // The whole box is in view.
        for corner in [Vec3::splat(-1.0), Vec3::splat(1.0), Vec3::new(1.0, -1.0, 1.0)] {
            let (u, v, _) = cam.project(corner.as_dvec3()).unwrap();
            assert!((0.0..400.0).contains(&u) && (0.0..300.0).contains(&v), "{corner} at {u},{v}");
        }
        let mut moved = orbit;
        moved.pan(10.0, 0.0, 300.0);
        assert!(moved.target != orbit.target);
        moved.dolly(0.5);
        assert!((moved.distance - orbit.distance * 0.5).abs() < 1e-5);
    }
}
