//! The wgpu renderer: pipelines for triangle meshes (lit, optional wireframe), lines, points,
//! photo planes and 3D Gaussian splats (EWA projection, SH 0–3, sorted back to front on the CPU
//! in parallel), drawn into the renderer's own colour + depth targets. It knows nothing of egui:
//! the same [`Renderer`] works on any `wgpu::Device`; [`headless::Headless`] renders to an image
//! for the CLI and tests, and the GUI (`app::viewport`) composites the colour target into egui.
//!
//! As in rerun's `re_renderer`, each primitive has its own file holding its GPU types, pipelines,
//! upload and draw: `mesh.rs` (meshes and wireframe), `lines.rs` (lines and points), `photo.rs`
//! (photo planes), `splats.rs` (splats and their sort); `pipeline.rs` holds the shared shader and
//! pipeline plumbing and `targets.rs` the render targets. This file holds the CPU-side [`Scene`],
//! the settings, and the [`Renderer`] that owns one renderer per primitive and orders their work.

pub mod camera;
pub mod headless;
mod lines;
mod mesh;
mod photo;
mod pipeline;
mod splats;
mod targets;

use bytemuck::{Pod, Zeroable};
use glam::{Mat4, Vec3};

pub use self::photo::PhotoPlane;
pub use self::splats::sort_back_to_front;
pub use self::targets::Targets;
use crate::core::camera::Camera;
use crate::core::geometry::{Bounds, Geometry, LineSet, Mesh, PointCloud, Splats};

/// Errors from setting up or using the renderer.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error(
        "no graphics adapter found: install a Vulkan driver (on Debian: `apt install mesa-vulkan-drivers libvulkan1`, \
         which provides the software renderer lavapipe) or run on a machine with a GPU"
    )]
    NoAdapter,
    #[error("could not open the graphics device: {0}")]
    Device(String),
    #[error("image size {width}×{height} is not possible here (1..={max} pixels per side)")]
    BadSize { width: u32, height: u32, max: u32 },
    #[error(
        "image size {width}×{height} is more than this device renders offscreen (at most {max_megapixels} megapixels)"
    )]
    TooManyPixels { width: u32, height: u32, max_megapixels: u32 },
    #[error("nothing to draw: {0}")]
    Empty(String),
    #[error("GPU readback failed: {0}")]
    Readback(String),
}

/// Colour format of the renderer's targets (values are display colours, no sRGB conversion).
pub const COLOR_FORMAT: wgpu::TextureFormat = wgpu::TextureFormat::Rgba8Unorm;
const DEPTH_FORMAT: wgpu::TextureFormat = wgpu::TextureFormat::Depth32Float;
/// MSAA samples of the targets.
pub const SAMPLES: u32 = 4;

/// Drawables on the CPU side, in one world frame.
#[derive(Clone, Debug, Default)]
pub struct Scene {
    pub meshes: Vec<Mesh>,
    pub lines: Vec<LineSet>,
    pub points: Vec<PointCloud>,
    pub splats: Vec<Splats>,
    pub photos: Vec<PhotoPlane>,
}

impl Scene {
    /// Adds one drawable read from a file.
    pub fn add(&mut self, geometry: Geometry) {
        match geometry {
            Geometry::Splats(s) => self.splats.push(s),
            Geometry::Mesh(m) => self.meshes.push(m),
            Geometry::Points(p) => self.points.push(p),
        }
    }

    /// Bounds of everything in the scene.
    pub fn bounds(&self) -> Option<Bounds> {
        let all = self
            .meshes
            .iter()
            .map(Mesh::bounds)
            .chain(self.lines.iter().map(|l| Bounds::of_points(&l.positions)))
            .chain(self.points.iter().map(|p| Bounds::of_points(&p.positions)))
            .chain(self.splats.iter().map(Splats::bounds))
            .chain(self.photos.iter().map(|p| Bounds::of_points(&p.corners())));
        all.flatten().reduce(Bounds::union)
    }

    pub fn is_empty(&self) -> bool {
        self.meshes.is_empty()
            && self.lines.is_empty()
            && self.points.is_empty()
            && self.splats.is_empty()
            && self.photos.is_empty()
    }
}

/// How to draw.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RenderSettings {
    /// Background colour, 0..1.
    pub background: [f32; 3],
    /// Multiplies every splat's extent (1 = as stored).
    pub splat_scale: f32,
    /// Draw triangle edges over meshes.
    pub wireframe: bool,
    /// Colour of meshes without vertex colours.
    pub base_color: [f32; 4],
}

impl Default for RenderSettings {
    fn default() -> Self {
        Self { background: [0.12, 0.12, 0.14], splat_scale: 1.0, wireframe: false, base_color: [0.75, 0.72, 0.68, 1.0] }
    }
}

/// Per-frame uniforms of every pipeline (bind group 0; `Globals` in `shaders/common.wgsl`).
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Globals {
    clip_from_world: [[f32; 4]; 4],
    camera_from_world: [[f32; 4]; 4],
    eye_world: [f32; 4],
    viewport: [f32; 4],
    params: [f32; 4],
    light_dir: [f32; 4],
}

/// A scene uploaded to the GPU; keep it between frames.
pub struct GpuScene {
    meshes: Vec<mesh::GpuMesh>,
    lines: Vec<lines::GpuColorVertices>,
    points: Vec<lines::GpuColorVertices>,
    splats: Vec<splats::GpuSplats>,
    photos: Vec<photo::GpuPhoto>,
    pub bounds: Option<Bounds>,
    /// Time of the last splat sort, for benchmarks and the status bar.
    pub last_sort_ms: f64,
}

/// Pipelines and per-frame state for one device: the globals and one renderer per primitive.
pub struct Renderer {
    globals: wgpu::Buffer,
    globals_bind_group: wgpu::BindGroup,
    meshes: mesh::MeshRenderer,
    lines: lines::LineRenderer,
    photos: photo::PhotoRenderer,
    splats: splats::SplatRenderer,
}

impl Renderer {
    pub fn new(device: &wgpu::Device) -> Self {
        let globals = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("globals"),
            size: std::mem::size_of::<Globals>() as u64,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let globals_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("globals"),
            entries: &[wgpu::BindGroupLayoutEntry {
                binding: 0,
                visibility: wgpu::ShaderStages::VERTEX_FRAGMENT,
                ty: wgpu::BindingType::Buffer {
                    ty: wgpu::BufferBindingType::Uniform,
                    has_dynamic_offset: false,
                    min_binding_size: None,
                },
                count: None,
            }],
        });
        let globals_bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("globals"),
            layout: &globals_layout,
            entries: &[wgpu::BindGroupEntry { binding: 0, resource: globals.as_entire_binding() }],
        });
        Self {
            globals,
            globals_bind_group,
            meshes: mesh::MeshRenderer::new(device, &globals_layout),
            lines: lines::LineRenderer::new(device, &globals_layout),
            photos: photo::PhotoRenderer::new(device, &globals_layout),
            splats: splats::SplatRenderer::new(device, &globals_layout),
        }
    }

    /// Uploads a scene. Meshes get normals computed when absent and `settings.base_color` when
    /// they have no colours.
    pub fn upload(
        &self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        scene: &Scene,
        settings: &RenderSettings,
    ) -> GpuScene {
        GpuScene {
            meshes: scene.meshes.iter().map(|m| self.meshes.upload(device, m, settings.base_color)).collect(),
            lines: scene
                .lines
                .iter()
                .map(|l| self.lines.upload(device, "lines", &l.positions, &l.colors, 1.0))
                .collect(),
            points: scene
                .points
                .iter()
                .map(|p| self.lines.upload(device, "points", &p.positions, &p.colors, p.size_px.max(1.0)))
                .collect(),
            splats: scene.splats.iter().map(|s| self.splats.upload(device, s)).collect(),
            photos: scene.photos.iter().map(|p| self.photos.upload(device, queue, p)).collect(),
            bounds: scene.bounds(),
            last_sort_ms: 0.0,
        }
    }

    /// Sorts splats back to front for `camera` (only when the view changed) and writes the
    /// per-frame uniforms. Call before [`Renderer::draw`].
    pub fn prepare(&self, queue: &wgpu::Queue, scene: &mut GpuScene, camera: &Camera, settings: &RenderSettings) {
        let (near, far) = camera::near_far(camera, scene.bounds);
        let clip = camera::clip_from_world(camera, near, far);
        let view: Mat4 = camera.camera_from_world().as_mat4();
        let eye = camera.position_world().as_vec3();
        let forward = camera.world_from_camera.z_axis.truncate().as_vec3();
        let light = (Vec3::new(0.4, 0.8, 0.45) - forward * 0.3).normalize();
        let globals = Globals {
            clip_from_world: clip.to_cols_array_2d(),
            camera_from_world: view.to_cols_array_2d(),
            eye_world: eye.extend(1.0).to_array(),
            viewport: [camera.width as f32, camera.height as f32, camera.fx as f32, camera.fy as f32],
            params: [settings.splat_scale, scene.points.first().map_or(3.0, |p| p.size_px), 0.0, 0.0],
            light_dir: light.extend(0.0).to_array(),
        };
        queue.write_buffer(&self.globals, 0, bytemuck::bytes_of(&globals));
        let t0 = std::time::Instant::now();
        let mut sorted = false;
        for s in &mut scene.splats {
            sorted |= s.sort(queue, eye, forward);
        }
        if sorted {
            scene.last_sort_ms = t0.elapsed().as_secs_f64() * 1e3;
        }
    }

    /// Records a pass that clears `targets` to the background and draws `scene` (call
    /// [`Renderer::prepare`] first).
    pub fn record(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        targets: &Targets,
        scene: &GpuScene,
        settings: &RenderSettings,
    ) {
        let [r, g, b] = settings.background.map(f64::from);
        let mut pass = encoder.begin_render_pass(&wgpu::RenderPassDescriptor {
            label: Some("scene"),
            color_attachments: &[Some(wgpu::RenderPassColorAttachment {
                view: &targets.msaa,
                depth_slice: None,
                resolve_target: Some(&targets.resolved),
                ops: wgpu::Operations {
                    load: wgpu::LoadOp::Clear(wgpu::Color { r, g, b, a: 1.0 }),
                    store: wgpu::StoreOp::Discard,
                },
            })],
            depth_stencil_attachment: Some(wgpu::RenderPassDepthStencilAttachment {
                view: &targets.depth,
                depth_ops: Some(wgpu::Operations { load: wgpu::LoadOp::Clear(1.0), store: wgpu::StoreOp::Discard }),
                stencil_ops: None,
            }),
            timestamp_writes: None,
            occlusion_query_set: None,
            multiview_mask: None,
        });
        self.draw(&mut pass, scene, settings);
    }

    /// Records the draws into a render pass whose targets are [`COLOR_FORMAT`] / depth32 with
    /// [`SAMPLES`] samples. Order: opaque meshes, lines, wireframe, photos, points, then the
    /// blended splats last.
    pub fn draw(&self, pass: &mut wgpu::RenderPass<'_>, scene: &GpuScene, settings: &RenderSettings) {
        pass.set_bind_group(0, &self.globals_bind_group, &[]);
        self.meshes.draw(pass, &scene.meshes);
        self.lines.draw_lines(pass, &scene.lines);
        if settings.wireframe {
            self.meshes.draw_wireframe(pass, &scene.meshes);
        }
        self.photos.draw(pass, &scene.photos);
        self.lines.draw_points(pass, &scene.points);
        self.splats.draw(pass, &scene.splats);
    }
}
