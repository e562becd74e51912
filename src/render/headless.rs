//! Headless rendering: a device without a window (any adapter wgpu finds, including Mesa's
//! software Vulkan driver), render targets, and readback of the colour target as an [`Image`].

use super::{GpuScene, RenderError, RenderSettings, Renderer, Scene, Targets};
use crate::core::camera::Camera;
use crate::core::image::Image;

/// Largest offscreen render, in pixels.
const MAX_RENDER_PIXELS: u64 = 64_000_000;

/// A device, its queue and a renderer, for offscreen use.
pub struct Headless {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub renderer: Renderer,
    /// Adapter name and driver, for logs and benchmarks.
    pub adapter: String,
    max_side: u32,
    /// Largest buffer the device allows (the readback of a frame must fit).
    max_buffer_bytes: u64,
    /// The renderer's per-frame uniforms are shared: one frame at a time (tests render from
    /// several threads).
    frame: std::sync::Mutex<()>,
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
            max_buffer_bytes: limits.max_buffer_size,
            frame: std::sync::Mutex::new(()),
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
        // Colour, depth and the readback copy each take 4 bytes a pixel: refuse what the device
        // (or the 64-megapixel cap that keeps a render under ~1 GB) cannot hold, before allocating.
        let readback_bytes = (u64::from(width) * 4).next_multiple_of(256) * u64::from(height);
        let pixels = u64::from(width) * u64::from(height);
        if readback_bytes > self.max_buffer_bytes || pixels > MAX_RENDER_PIXELS {
            return Err(RenderError::TooManyPixels {
                width,
                height,
                max_megapixels: (MAX_RENDER_PIXELS.min(self.max_buffer_bytes / 4) / 1_000_000) as u32,
            });
        }
        // A poisoned lock only means another frame panicked; the uniforms are rewritten below.
        let _frame = self.frame.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let size = wgpu::Extent3d { width, height, depth_or_array_layers: 1 };
        let targets = Targets::new(&self.device, [width, height], wgpu::TextureUsages::COPY_SRC);
        self.renderer.prepare(&self.queue, scene, camera, settings);
        let mut encoder = self.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("render") });
        self.renderer.record(&mut encoder, &targets, scene, settings);
        let bytes_per_row = (width * 4).div_ceil(256) * 256;
        let readback = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("readback"),
            size: u64::from(bytes_per_row) * u64::from(height),
            usage: wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::MAP_READ,
            mapped_at_creation: false,
        });
        encoder.copy_texture_to_buffer(
            wgpu::TexelCopyTextureInfo {
                texture: &targets.resolved_texture,
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
