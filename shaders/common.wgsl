// Per-frame values shared by every pipeline (group 0).
struct Globals {
    clip_from_world: mat4x4<f32>,
    camera_from_world: mat4x4<f32>,
    eye_world: vec4<f32>,
    // width px, height px, fx, fy
    viewport: vec4<f32>,
    // splat scale, point size px, unused, unused
    params: vec4<f32>,
    // direction towards the light, world
    light_dir: vec4<f32>,
};
@group(0) @binding(0) var<uniform> g: Globals;
