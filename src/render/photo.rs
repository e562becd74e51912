//! Photo planes: a photo shown where its camera saw it, as a textured quad at a chosen depth
//! (`shaders/image.wgsl`, bilinear sampling, opaque).

use wgpu::util::DeviceExt;

use super::COLOR_FORMAT;
use super::pipeline::{PipelineSpec, buffer, layout, pipeline, shader};
use crate::core::camera::Camera;
use crate::core::image::Image;

/// A photo shown where its camera saw it: the image rectangle unprojected at `depth`.
#[derive(Clone, Debug)]
pub struct PhotoPlane {
    pub image: Image,
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

/// A photo on the GPU: its quad (position + texture coordinates) and texture bind group.
pub(super) struct GpuPhoto {
    vertices: wgpu::Buffer,
    bind_group: wgpu::BindGroup,
}

/// The photo bind group layout (group 1: texture, sampler), sampler and pipeline.
pub(super) struct PhotoRenderer {
    bind_group_layout: wgpu::BindGroupLayout,
    sampler: wgpu::Sampler,
    pipeline: wgpu::RenderPipeline,
}

impl PhotoRenderer {
    pub(super) fn new(device: &wgpu::Device, globals: &wgpu::BindGroupLayout) -> Self {
        let bind_group_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
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
        let pipeline_layout = layout(device, "photo", globals, &[&bind_group_layout]);
        let module = shader(device, "photo", include_str!("../../shaders/image.wgsl"));
        let attributes = wgpu::vertex_attr_array![0 => Float32x3, 1 => Float32x2];
        let pipeline = pipeline(
            device,
            &pipeline_layout,
            PipelineSpec {
                label: "photo",
                module: &module,
                vs: "vs_main",
                buffers: &[Some(wgpu::VertexBufferLayout {
                    array_stride: 20,
                    step_mode: wgpu::VertexStepMode::Vertex,
                    attributes: &attributes,
                })],
                fs: "fs_main",
                topology: wgpu::PrimitiveTopology::TriangleStrip,
                depth_write: true,
                blend: wgpu::BlendState::REPLACE,
                bias: Default::default(),
            },
        );
        let sampler = device.create_sampler(&wgpu::SamplerDescriptor {
            label: Some("photo"),
            mag_filter: wgpu::FilterMode::Linear,
            min_filter: wgpu::FilterMode::Linear,
            ..Default::default()
        });
        Self { bind_group_layout, sampler, pipeline }
    }

    /// Uploads the photo as a texture and its quad.
    pub(super) fn upload(&self, device: &wgpu::Device, queue: &wgpu::Queue, photo: &PhotoPlane) -> GpuPhoto {
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
            layout: &self.bind_group_layout,
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
            vertices: buffer(device, "photo quad", bytemuck::cast_slice(&v), wgpu::BufferUsages::VERTEX),
            bind_group,
        }
    }

    /// Draws the photos' quads.
    pub(super) fn draw(&self, pass: &mut wgpu::RenderPass<'_>, photos: &[GpuPhoto]) {
        pass.set_pipeline(&self.pipeline);
        for p in photos {
            pass.set_bind_group(1, &p.bind_group, &[]);
            pass.set_vertex_buffer(0, p.vertices.slice(..));
            pass.draw(0..4, 0..1);
        }
    }
}
