// Lines (segments with a colour per end) and points (screen-aligned squares, instanced).
struct LineIn {
    @location(0) position: vec3<f32>,
    @location(1) color: vec4<f32>,
};
struct VsOut {
    @builtin(position) clip: vec4<f32>,
    @location(0) color: vec4<f32>,
};

@vertex
fn vs_line(v: LineIn) -> VsOut {
    var out: VsOut;
    out.clip = g.clip_from_world * vec4<f32>(v.position, 1.0);
    out.color = v.color;
    return out;
}

@vertex
fn vs_point(@builtin(vertex_index) corner: u32, v: LineIn) -> VsOut {
    var out: VsOut;
    let centre = g.clip_from_world * vec4<f32>(v.position, 1.0);
    let c = vec2<f32>(f32(corner & 1u) * 2.0 - 1.0, f32((corner >> 1u) & 1u) * 2.0 - 1.0);
    let half_px = 0.5 * g.params.y;
    let ndc = vec2<f32>(2.0 * c.x * half_px / g.viewport.x, 2.0 * c.y * half_px / g.viewport.y);
    out.clip = centre + vec4<f32>(ndc * centre.w, 0.0, 0.0);
    out.color = v.color;
    return out;
}

@fragment
fn fs_main(in: VsOut) -> @location(0) vec4<f32> {
    return in.color;
}
