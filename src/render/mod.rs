//! The wgpu renderer: pipelines for triangle meshes (lit, optional wireframe), lines, points and
//! 3D Gaussian splats (EWA projection, SH 0–3, sorted back to front on the CPU in parallel), drawn
//! into the renderer's own colour + depth targets. The same [`Renderer`] works on any
//! `wgpu::Device`: [`headless::Headless`] renders to an image for the CLI and tests; the GUI
//! composites the colour target into egui.

pub mod camera;
pub mod headless;

use bytemuck::{Pod, Zeroable};
use glam::{Mat4, Vec3};
use rayon::prelude::*;
use wgpu::util::DeviceExt;

use crate::core::camera::Camera;
use crate::core::geometry::{Bounds, LineSet, Mesh, PointCloud, Splats};

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

/// A photo shown where its camera saw it: the image rectangle unprojected at `depth`.
#[derive(Clone, Debug)]
pub struct PhotoPlane {
    pub image: crate::core::image::Image,
    pub camera: Camera,
    /// Distance along the camera's forward axis, in world units.
    pub depth: f64,
}

impl PhotoPlane {
    /// World corners (top-left, top-right, bottom-right, bottom-left) of the quad.
    pub fn corners(&self) -> [[f32; 3]; 4] {
        let (w, h) = (f64::from(self.camera.width), f64::from(self.camera.height));
        [(0.0, 0.0), (w, 0.0), (w, h), (0.0, h)]
            .map(|(u, v)| self.camera.unproject(u, v, self.depth).as_vec3().to_array())
    }
}

impl Scene {
    /// Adds one drawable read from a file.
    pub fn add(&mut self, geometry: crate::core::geometry::Geometry) {
        use crate::core::geometry::Geometry;
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

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct MeshVertex {
    position: [f32; 3],
    normal: [f32; 3],
    color: [f32; 4],
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct ColorVertex {
    position: [f32; 3],
    color: [f32; 4],
}

struct GpuMesh {
    vertices: wgpu::Buffer,
    indices: wgpu::Buffer,
    index_count: u32,
    edges: wgpu::Buffer,
    edge_count: u32,
}

struct GpuColorVertices {
    buffer: wgpu::Buffer,
    count: u32,
    size_px: f32,
}

struct GpuPhoto {
    vertices: wgpu::Buffer,
    bind_group: wgpu::BindGroup,
}

struct GpuSplats {
    positions: Vec<[f32; 3]>,
    order: wgpu::Buffer,
    bind_group: wgpu::BindGroup,
    /// Camera position and forward axis of the current order.
    sorted_for: Option<([f32; 3], [f32; 3])>,
    order_scratch: Vec<u32>,
}

/// A scene uploaded to the GPU; keep it between frames.
pub struct GpuScene {
    meshes: Vec<GpuMesh>,
    lines: Vec<GpuColorVertices>,
    points: Vec<GpuColorVertices>,
    splats: Vec<GpuSplats>,
    photos: Vec<GpuPhoto>,
    pub bounds: Option<Bounds>,
    /// Time of the last splat sort, for benchmarks and the status bar.
    pub last_sort_ms: f64,
}

/// The renderer's own colour (MSAA + resolved) and depth targets.
pub struct Targets {
    pub size: [u32; 2],
    pub msaa: wgpu::TextureView,
    /// The resolved colour texture: sampled by egui, or copied out for readback.
    pub resolved_texture: wgpu::Texture,
    pub resolved: wgpu::TextureView,
    pub depth: wgpu::TextureView,
}

impl Targets {
    /// Targets of `size`; `resolved_usage` adds to RENDER_ATTACHMENT (TEXTURE_BINDING, COPY_SRC, …).
    pub fn new(device: &wgpu::Device, size: [u32; 2], resolved_usage: wgpu::TextureUsages) -> Self {
        let extent = wgpu::Extent3d { width: size[0], height: size[1], depth_or_array_layers: 1 };
        let make = |label, format, samples, usage| {
            device.create_texture(&wgpu::TextureDescriptor {
                label: Some(label),
                size: extent,
                mip_level_count: 1,
                sample_count: samples,
                dimension: wgpu::TextureDimension::D2,
                format,
                usage,
                view_formats: &[],
            })
        };
        let msaa = make("colour msaa", COLOR_FORMAT, SAMPLES, wgpu::TextureUsages::RENDER_ATTACHMENT);
        let resolved_texture = make("colour", COLOR_FORMAT, 1, wgpu::TextureUsages::RENDER_ATTACHMENT | resolved_usage);
        let depth = make("depth", DEPTH_FORMAT, SAMPLES, wgpu::TextureUsages::RENDER_ATTACHMENT);
        Self {
            size,
            msaa: msaa.create_view(&Default::default()),
            resolved: resolved_texture.create_view(&Default::default()),
            resolved_texture,
            depth: depth.create_view(&Default::default()),
        }
    }
}

/// Pipelines and per-frame state for one device.
pub struct Renderer {
    globals: wgpu::Buffer,
    globals_bind_group: wgpu::BindGroup,
    splat_layout: wgpu::BindGroupLayout,
    mesh_pipeline: wgpu::RenderPipeline,
    line_pipeline: wgpu::RenderPipeline,
    wire_pipeline: wgpu::RenderPipeline,
    point_pipeline: wgpu::RenderPipeline,
    splat_pipeline: wgpu::RenderPipeline,
    photo_layout: wgpu::BindGroupLayout,
    photo_pipeline: wgpu::RenderPipeline,
    sampler: wgpu::Sampler,
}

fn shader(device: &wgpu::Device, label: &str, source: &str) -> wgpu::ShaderModule {
    let full = format!("{}\n{}", include_str!("../../shaders/common.wgsl"), source);
    device.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: Some(label),
        source: wgpu::ShaderSource::Wgsl(full.into()),
    })
}

struct PipelineSpec<'a> {
    label: &'a str,
    module: &'a wgpu::ShaderModule,
    vs: &'a str,
    buffers: &'a [Option<wgpu::VertexBufferLayout<'a>>],
    topology: wgpu::PrimitiveTopology,
    fs: &'a str,
    depth_write: bool,
    blend: wgpu::BlendState,
    bias: wgpu::DepthBiasState,
}

fn pipeline(device: &wgpu::Device, layout: &wgpu::PipelineLayout, spec: PipelineSpec<'_>) -> wgpu::RenderPipeline {
    device.create_render_pipeline(&wgpu::RenderPipelineDescriptor {
        label: Some(spec.label),
        layout: Some(layout),
        vertex: wgpu::VertexState {
            module: spec.module,
            entry_point: Some(spec.vs),
            compilation_options: Default::default(),
            buffers: spec.buffers,
        },
        primitive: wgpu::PrimitiveState { topology: spec.topology, cull_mode: None, ..Default::default() },
        depth_stencil: Some(wgpu::DepthStencilState {
            format: DEPTH_FORMAT,
            depth_write_enabled: Some(spec.depth_write),
            depth_compare: Some(wgpu::CompareFunction::LessEqual),
            stencil: Default::default(),
            bias: spec.bias,
        }),
        multisample: wgpu::MultisampleState { count: SAMPLES, ..Default::default() },
        fragment: Some(wgpu::FragmentState {
            module: spec.module,
            entry_point: Some(spec.fs),
            compilation_options: Default::default(),
            targets: &[Some(wgpu::ColorTargetState {
                format: COLOR_FORMAT,
                blend: Some(spec.blend),
                write_mask: wgpu::ColorWrites::ALL,
            })],
        }),
        multiview_mask: None,
        cache: None,
    })
}

const COLOR_VERTEX_ATTRS: [wgpu::VertexAttribute; 2] = wgpu::vertex_attr_array![0 => Float32x3, 1 => Float32x4];

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
        let storage = |binding| wgpu::BindGroupLayoutEntry {
            binding,
            visibility: wgpu::ShaderStages::VERTEX,
            ty: wgpu::BindingType::Buffer {
                ty: wgpu::BufferBindingType::Storage { read_only: true },
                has_dynamic_offset: false,
                min_binding_size: None,
            },
            count: None,
        };
        let splat_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("splats"),
            entries: &[
                storage(0),
                storage(1),
                storage(2),
                wgpu::BindGroupLayoutEntry {
                    binding: 3,
                    visibility: wgpu::ShaderStages::VERTEX,
                    ty: wgpu::BindingType::Buffer {
                        ty: wgpu::BufferBindingType::Uniform,
                        has_dynamic_offset: false,
                        min_binding_size: None,
                    },
                    count: None,
                },
            ],
        });
        let simple_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("simple"),
            bind_group_layouts: &[Some(&globals_layout)],
            immediate_size: 0,
        });
        let splat_pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("splats"),
            bind_group_layouts: &[Some(&globals_layout), Some(&splat_layout)],
            immediate_size: 0,
        });
        let mesh_module = shader(device, "mesh", include_str!("../../shaders/mesh.wgsl"));
        let lines_module = shader(device, "lines", include_str!("../../shaders/lines.wgsl"));
        let splat_module = shader(device, "splats", include_str!("../../shaders/splat.wgsl"));
        let mesh_attrs = wgpu::vertex_attr_array![0 => Float32x3, 1 => Float32x3, 2 => Float32x4];
        let mesh_layout = wgpu::VertexBufferLayout {
            array_stride: std::mem::size_of::<MeshVertex>() as u64,
            step_mode: wgpu::VertexStepMode::Vertex,
            attributes: &mesh_attrs,
        };
        let opaque = wgpu::BlendState::REPLACE;
        let premultiplied = wgpu::BlendState::PREMULTIPLIED_ALPHA_BLENDING;
        let mesh_pipeline = pipeline(
            device,
            &simple_layout,
            PipelineSpec {
                label: "mesh",
                module: &mesh_module,
                vs: "vs_main",
                buffers: &[Some(mesh_layout.clone())],
                fs: "fs_main",
                topology: wgpu::PrimitiveTopology::TriangleList,
                depth_write: true,
                blend: opaque,
                // Push triangles back a little so wireframe edges win the depth test.
                bias: wgpu::DepthBiasState { constant: 2, slope_scale: 1.0, clamp: 0.0 },
            },
        );
        let wire_pipeline = pipeline(
            device,
            &simple_layout,
            PipelineSpec {
                label: "wireframe",
                module: &mesh_module,
                vs: "vs_main",
                buffers: &[Some(mesh_layout.clone())],
                fs: "fs_wire",
                topology: wgpu::PrimitiveTopology::LineList,
                depth_write: true,
                blend: opaque,
                bias: Default::default(),
            },
        );
        let color_vertex_layout = |step_mode| wgpu::VertexBufferLayout {
            array_stride: std::mem::size_of::<ColorVertex>() as u64,
            step_mode,
            attributes: &COLOR_VERTEX_ATTRS,
        };
        let line_pipeline = pipeline(
            device,
            &simple_layout,
            PipelineSpec {
                label: "lines",
                module: &lines_module,
                vs: "vs_line",
                buffers: &[Some(color_vertex_layout(wgpu::VertexStepMode::Vertex))],
                fs: "fs_main",
                topology: wgpu::PrimitiveTopology::LineList,
                depth_write: true,
                blend: opaque,
                bias: Default::default(),
            },
        );
        let point_pipeline = pipeline(
            device,
            &simple_layout,
            PipelineSpec {
                label: "points",
                module: &lines_module,
                vs: "vs_point",
                buffers: &[Some(color_vertex_layout(wgpu::VertexStepMode::Instance))],
                fs: "fs_main",
                topology: wgpu::PrimitiveTopology::TriangleStrip,
                depth_write: true,
                blend: opaque,
                bias: Default::default(),
            },
        );
        let splat_pipeline = pipeline(
            device,
            &splat_pipeline_layout,
            PipelineSpec {
                label: "splats",
                module: &splat_module,
                vs: "vs_main",
                buffers: &[],
                fs: "fs_main",
                topology: wgpu::PrimitiveTopology::TriangleStrip,
                depth_write: false,
                blend: premultiplied,
                bias: Default::default(),
            },
        );
        let photo_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("photo"),
            entries: &[
                wgpu::BindGroupLayoutEntry {
                    binding: 0,
                    visibility: wgpu::ShaderStages::FRAGMENT,
                    ty: wgpu::BindingType::Texture {
                        sample_type: wgpu::TextureSampleType::Float { filterable: true },
                        view_dimension: wgpu::TextureViewDimension::D2,
                        multisampled: false,
                    },
                    count: None,
                },
                wgpu::BindGroupLayoutEntry {
                    binding: 1,
                    visibility: wgpu::ShaderStages::FRAGMENT,
                    ty: wgpu::BindingType::Sampler(wgpu::SamplerBindingType::Filtering),
                    count: None,
                },
            ],
        });
        let photo_pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("photo"),
            bind_group_layouts: &[Some(&globals_layout), Some(&photo_layout)],
            immediate_size: 0,
        });
        let photo_module = shader(device, "photo", include_str!("../../shaders/image.wgsl"));
        let photo_attrs = wgpu::vertex_attr_array![0 => Float32x3, 1 => Float32x2];
        let photo_pipeline = pipeline(
            device,
            &photo_pipeline_layout,
            PipelineSpec {
                label: "photo",
                module: &photo_module,
                vs: "vs_main",
                buffers: &[Some(wgpu::VertexBufferLayout {
                    array_stride: 20,
                    step_mode: wgpu::VertexStepMode::Vertex,
                    attributes: &photo_attrs,
                })],
                fs: "fs_main",
                topology: wgpu::PrimitiveTopology::TriangleStrip,
                depth_write: true,
                blend: opaque,
                bias: Default::default(),
            },
        );
        let sampler = device.create_sampler(&wgpu::SamplerDescriptor {
            label: Some("photo"),
            mag_filter: wgpu::FilterMode::Linear,
            min_filter: wgpu::FilterMode::Linear,
            ..Default::default()
        });
        Self {
            globals,
            globals_bind_group,
            splat_layout,
            mesh_pipeline,
            line_pipeline,
            wire_pipeline,
            point_pipeline,
            splat_pipeline,
            photo_layout,
            photo_pipeline,
            sampler,
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
        let init = |label: &str, contents: &[u8], usage| {
            device.create_buffer_init(&wgpu::util::BufferInitDescriptor { label: Some(label), contents, usage })
        };
        let meshes = scene
            .meshes
            .iter()
            .map(|mesh| {
                let normals = mesh.normals.clone().unwrap_or_else(|| mesh.compute_normals());
                let vertices: Vec<MeshVertex> = (0..mesh.positions.len())
                    .map(|i| MeshVertex {
                        position: mesh.positions[i],
                        normal: normals.get(i).copied().unwrap_or([0.0, 1.0, 0.0]),
                        color: mesh.colors.as_ref().and_then(|c| c.get(i).copied()).unwrap_or(settings.base_color),
                    })
                    .collect();
                let edges: Vec<u32> =
                    mesh.indices.chunks_exact(3).flat_map(|t| [t[0], t[1], t[1], t[2], t[2], t[0]]).collect();
                GpuMesh {
                    vertices: init("mesh vertices", bytemuck::cast_slice(&vertices), wgpu::BufferUsages::VERTEX),
                    indices: init("mesh indices", bytemuck::cast_slice(&mesh.indices), wgpu::BufferUsages::INDEX),
                    index_count: mesh.indices.len() as u32,
                    edges: init("mesh edges", bytemuck::cast_slice(&edges), wgpu::BufferUsages::INDEX),
                    edge_count: edges.len() as u32,
                }
            })
            .collect();
        let color_vertices = |label: &str, positions: &[[f32; 3]], colors: &[[f32; 4]], size_px: f32| {
            let v: Vec<ColorVertex> = positions
                .iter()
                .enumerate()
                .map(|(i, &position)| ColorVertex { position, color: colors.get(i).copied().unwrap_or([1.0; 4]) })
                .collect();
            GpuColorVertices {
                buffer: init(label, bytemuck::cast_slice(&v), wgpu::BufferUsages::VERTEX),
                count: v.len() as u32,
                size_px,
            }
        };
        let lines = scene.lines.iter().map(|l| color_vertices("lines", &l.positions, &l.colors, 1.0)).collect();
        let points = scene
            .points
            .iter()
            .map(|p| color_vertices("points", &p.positions, &p.colors, p.size_px.max(1.0)))
            .collect();
        let splats = scene
            .splats
            .iter()
            .map(|s| {
                let data: Vec<[f32; 12]> = (0..s.len())
                    .into_par_iter()
                    .map(|i| {
                        let p = s.positions[i];
                        let c = s.covariance(i);
                        [p[0], p[1], p[2], s.opacities[i], c[0], c[1], c[2], c[3], c[4], c[5], 0.0, 0.0]
                    })
                    .collect();
                let stride = (s.sh_coeffs() * 3) as u32;
                let sh: &[f32] = if s.sh.is_empty() { &[0.0] } else { &s.sh };
                let data_buf = init("splat data", bytemuck::cast_slice(&data), wgpu::BufferUsages::STORAGE);
                let sh_buf = init("splat sh", bytemuck::cast_slice(sh), wgpu::BufferUsages::STORAGE);
                let initial: Vec<u32> = (0..s.len() as u32).collect();
                let order = init(
                    "splat order",
                    bytemuck::cast_slice(&initial),
                    wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
                );
                let cloud = init(
                    "splat cloud",
                    bytemuck::cast_slice(&[u32::from(s.sh_degree), stride, 0, 0]),
                    wgpu::BufferUsages::UNIFORM,
                );
                let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
                    label: Some("splats"),
                    layout: &self.splat_layout,
                    entries: &[
                        wgpu::BindGroupEntry { binding: 0, resource: data_buf.as_entire_binding() },
                        wgpu::BindGroupEntry { binding: 1, resource: sh_buf.as_entire_binding() },
                        wgpu::BindGroupEntry { binding: 2, resource: order.as_entire_binding() },
                        wgpu::BindGroupEntry { binding: 3, resource: cloud.as_entire_binding() },
                    ],
                });
                GpuSplats {
                    positions: s.positions.clone(),
                    order,
                    bind_group,
                    sorted_for: None,
                    order_scratch: initial,
                }
            })
            .collect();
        let photos = scene
            .photos
            .iter()
            .map(|photo| {
                let rgb = photo.image.rgb();
                let rgba: Vec<u8> = rgb.pixels().flat_map(|p| [p.0[0], p.0[1], p.0[2], 255]).collect();
                let size = wgpu::Extent3d { width: rgb.width(), height: rgb.height(), depth_or_array_layers: 1 };
                let texture = device.create_texture_with_data(
                    queue,
                    &wgpu::TextureDescriptor {
                        label: Some("photo"),
                        size,
                        mip_level_count: 1,
                        sample_count: 1,
                        dimension: wgpu::TextureDimension::D2,
                        format: COLOR_FORMAT,
                        usage: wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::COPY_DST,
                        view_formats: &[],
                    },
                    wgpu::util::TextureDataOrder::LayerMajor,
                    &rgba,
                );
                let view = texture.create_view(&Default::default());
                let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
                    label: Some("photo"),
                    layout: &self.photo_layout,
                    entries: &[
                        wgpu::BindGroupEntry { binding: 0, resource: wgpu::BindingResource::TextureView(&view) },
                        wgpu::BindGroupEntry { binding: 1, resource: wgpu::BindingResource::Sampler(&self.sampler) },
                    ],
                });
                let [tl, tr, br, bl] = photo.corners();
                // Strip order: top-left, top-right, bottom-left, bottom-right.
                let v: [[f32; 5]; 4] = [
                    [tl[0], tl[1], tl[2], 0.0, 0.0],
                    [tr[0], tr[1], tr[2], 1.0, 0.0],
                    [bl[0], bl[1], bl[2], 0.0, 1.0],
                    [br[0], br[1], br[2], 1.0, 1.0],
                ];
                GpuPhoto {
                    vertices: init("photo quad", bytemuck::cast_slice(&v), wgpu::BufferUsages::VERTEX),
                    bind_group,
                }
            })
            .collect();
        GpuScene { meshes, lines, points, splats, photos, bounds: scene.bounds(), last_sort_ms: 0.0 }
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
            let key = (eye.to_array(), forward.to_array());
            if s.sorted_for == Some(key) {
                continue;
            }
            sort_back_to_front(&s.positions, eye, forward, &mut s.order_scratch);
            queue.write_buffer(&s.order, 0, bytemuck::cast_slice(&s.order_scratch));
            s.sorted_for = Some(key);
            sorted = true;
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
    /// [`SAMPLES`] samples.
    pub fn draw(&self, pass: &mut wgpu::RenderPass<'_>, scene: &GpuScene, settings: &RenderSettings) {
        pass.set_bind_group(0, &self.globals_bind_group, &[]);
        pass.set_pipeline(&self.mesh_pipeline);
        for m in &scene.meshes {
            pass.set_vertex_buffer(0, m.vertices.slice(..));
            pass.set_index_buffer(m.indices.slice(..), wgpu::IndexFormat::Uint32);
            pass.draw_indexed(0..m.index_count, 0, 0..1);
        }
        pass.set_pipeline(&self.line_pipeline);
        for l in &scene.lines {
            pass.set_vertex_buffer(0, l.buffer.slice(..));
            pass.draw(0..l.count, 0..1);
        }
        if settings.wireframe {
            pass.set_pipeline(&self.wire_pipeline);
            for m in &scene.meshes {
                pass.set_vertex_buffer(0, m.vertices.slice(..));
                pass.set_index_buffer(m.edges.slice(..), wgpu::IndexFormat::Uint32);
                pass.draw_indexed(0..m.edge_count, 0, 0..1);
            }
        }
        pass.set_pipeline(&self.photo_pipeline);
        for p in &scene.photos {
            pass.set_bind_group(1, &p.bind_group, &[]);
            pass.set_vertex_buffer(0, p.vertices.slice(..));
            pass.draw(0..4, 0..1);
        }
        pass.set_pipeline(&self.point_pipeline);
        for p in &scene.points {
            pass.set_vertex_buffer(0, p.buffer.slice(..));
            pass.draw(0..4, 0..p.count);
        }
        pass.set_pipeline(&self.splat_pipeline);
        for s in &scene.splats {
            pass.set_bind_group(1, &s.bind_group, &[]);
            pass.draw(0..4, 0..s.positions.len() as u32);
        }
    }
}

/// Orders splat indices far to near along the view direction (parallel sort on depth keys).
pub fn sort_back_to_front(positions: &[[f32; 3]], eye: Vec3, forward: Vec3, order: &mut Vec<u32>) {
    let mut keyed: Vec<(u32, u32)> = positions
        .par_iter()
        .enumerate()
        .map(|(i, p)| {
            let depth = (Vec3::from_array(*p) - eye).dot(forward);
            // Larger depth first: flip the order-preserving bit pattern of the float.
            let bits = depth.to_bits();
            let ordered = if bits >> 31 == 1 { !bits } else { bits | 0x8000_0000 };
            (!ordered, i as u32)
        })
        .collect();
    keyed.par_sort_unstable_by_key(|k| k.0);
    order.clear();
    order.extend(keyed.iter().map(|k| k.1));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sort_puts_far_splats_first() {
        let positions = [[0.0, 0.0, 1.0], [0.0, 0.0, 5.0], [0.0, 0.0, -2.0], [0.0, 0.0, 3.0]];
        let mut order = Vec::new();
        sort_back_to_front(&positions, Vec3::ZERO, Vec3::Z, &mut order);
        assert_eq!(order, vec![1, 3, 0, 2]);
        sort_back_to_front(&positions, Vec3::new(0.0, 0.0, 10.0), Vec3::NEG_Z, &mut order);
        assert_eq!(order, vec![2, 0, 3, 1]);
    }
}
