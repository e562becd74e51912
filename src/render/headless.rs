//! Headless rendering: a device without a window (any adapter wgpu finds, including Mesa's
//! software Vulkan driver), render targets, and readback of the colour target as an [`Image`].

use super::{COLOR_FORMAT, DEPTH_FORMAT, GpuScene, RenderError, RenderSettings, Renderer, SAMPLES, Scene};
use crate::core::camera::Camera;
use crate::core::image::Image;

/// A device, its queue and a renderer, for offscreen use.
pub struct Headless {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub renderer: Renderer,
    /// Adapter name and driver, for logs and benchmarks.
    pub adapter: String,
    max_side: u32,
}

impl Headless {
    /// Opens the first adapter wgpu finds (a real GPU when present, else lavapipe).
    pub fn new() -> Result<Self, RenderError> {
        // Native backends only (Vulkan, Metal, DX12): probing GL prints EGL errors on headless machines.
        // WGPU_BACKEND still overrides.
        let mut desc = wgpu::InstanceDescriptor::new_without_display_handle();
        desc.backends = wgpu::Backends::PRIMARY;
        let instance = wgpu::Instance::new(desc.with_env());
        let adapter = pollster::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions {
            power_preference: wgpu::PowerPreference::HighPerformance,
            force_fallback_adapter: false,
            compatible_surface: None,
            apply_limit_buckets: false,
        }))
        .map_err(|_| RenderError::NoAdapter)?;
        let info = adapter.get_info();
        // Ask for what the adapter offers: big splat clouds need large storage buffers.
        let limits = adapter.limits();
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("carve headless"),
            required_features: wgpu::Features::empty(),
            required_limits: limits.clone(),
            ..Default::default()
        }))
        .map_err(|e| RenderError::Device(e.to_string()))?;
        let renderer = Renderer::new(&device);
        Ok(Self {
            device,
            queue,
            renderer,
            adapter: format!("{} ({:?}, {})", info.name, info.backend, info.driver),
            max_side: limits.max_texture_dimension_2d,
        })
    }

    /// Uploads a scene for rendering.
    pub fn upload(&self, scene: &Scene, settings: &RenderSettings) -> GpuScene {
        self.renderer.upload(&self.device, &self.queue, scene, settings)
    }

    /// Renders `scene` from `camera` (whose width/height set the image size).
    pub fn render(
        &self,
        scene: &mut GpuScene,
        camera: &Camera,
        settings: &RenderSettings,
    ) -> Result<Image, RenderError> {
        let (width, height) = (camera.width, camera.height);
        let max = self.max_side.min(16384);
        if width == 0 || height == 0 || width > max || height > max {
            return Err(RenderError::BadSize { width, height, max });
        }
        let size = wgpu::Extent3d { width, height, depth_or_array_layers: 1 };
        let target = |label, format, samples, usage| {
            self.device.create_texture(&wgpu::TextureDescriptor {
                label: Some(label),
                size,
                mip_level_count: 1,
                sample_count: samples,
                dimension: wgpu::TextureDimension::D2,
                format,
                usage,
                view_formats: &[],
            })
        };
        let msaa = target("colour msaa", COLOR_FORMAT, SAMPLES, wgpu::TextureUsages::RENDER_ATTACHMENT);
        let resolved =
            target("colour", COLOR_FORMAT, 1, wgpu::TextureUsages::RENDER_ATTACHMENT | wgpu::TextureUsages::COPY_SRC);
        let depth = target("depth", DEPTH_FORMAT, SAMPLES, wgpu::TextureUsages::RENDER_ATTACHMENT);
        let (msaa_view, resolved_view, depth_view) = (
            msaa.create_view(&Default::default()),
            resolved.create_view(&Default::default()),
            depth.create_view(&Default::default()),
        );
        self.renderer.prepare(&self.queue, scene, camera, settings);
        let mut encoder = self.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("render") });
        {
            let [r, g, b] = settings.background.map(f64::from);
            let mut pass = encoder.begin_render_pass(&wgpu::RenderPassDescriptor {
                label: Some("scene"),
                color_attachments: &[Some(wgpu::RenderPassColorAttachment {
                    view: &msaa_view,
                    depth_slice: None,
                    resolve_target: Some(&resolved_view),
                    ops: wgpu::Operations {
                        load: wgpu::LoadOp::Clear(wgpu::Color { r, g, b, a: 1.0 }),
                        store: wgpu::StoreOp::Discard,
                    },
                })],
                depth_stencil_attachment: Some(wgpu::RenderPassDepthStencilAttachment {
                    view: &depth_view,
                    depth_ops: Some(wgpu::Operations { load: wgpu::LoadOp::Clear(1.0), store: wgpu::StoreOp::Discard }),
                    stencil_ops: None,
                }),
                timestamp_writes: None,
                occlusion_query_set: None,
                multiview_mask: None,
            });
            self.renderer.draw(&mut pass, scene, settings);
        }
        let bytes_per_row = (width * 4).div_ceil(256) * 256;
        let readback = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("readback"),
            size: u64::from(bytes_per_row) * u64::from(height),
            usage: wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::MAP_READ,
            mapped_at_creation: false,
        });
        encoder.copy_texture_to_buffer(
            wgpu::TexelCopyTextureInfo {
                texture: &resolved,
                mip_level: 0,
                origin: wgpu::Origin3d::ZERO,
                aspect: wgpu::TextureAspect::All,
            },
            wgpu::TexelCopyBufferInfo {
                buffer: &readback,
                layout: wgpu::TexelCopyBufferLayout {
                    offset: 0,
                    bytes_per_row: Some(bytes_per_row),
                    rows_per_image: Some(height),
                },
            },
            size,
        );
        self.queue.submit([encoder.finish()]);
        let slice = readback.slice(..);
        let (tx, rx) = std::sync::mpsc::channel();
        slice.map_async(wgpu::MapMode::Read, move |r| {
            let _ = tx.send(r);
        });
        self.device
            .poll(wgpu::PollType::Wait { submission_index: None, timeout: None })
            .map_err(|e| RenderError::Readback(e.to_string()))?;
        rx.recv()
            .map_err(|e| RenderError::Readback(e.to_string()))?
            .map_err(|e| RenderError::Readback(e.to_string()))?;
        let data = slice.get_mapped_range().map_err(|e| RenderError::Readback(e.to_string()))?;
        let mut rgb = Vec::with_capacity((width * height * 3) as usize);
        for row in data.chunks_exact(bytes_per_row as usize) {
            for px in row[..(width * 4) as usize].chunks_exact(4) {
                rgb.extend_from_slice(&px[..3]);
            }
        }
        drop(data);
        readback.unmap();
        let image = image::RgbImage::from_raw(width, height, rgb)
            .ok_or_else(|| RenderError::Readback("size mismatch".into()))?;
        Ok(Image::from_rgb(image))
    }
}
