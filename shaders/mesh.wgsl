// Triangle meshes: per-vertex normal and colour, two-sided Lambert lighting from a light that
// follows the camera plus a fixed key light.
struct VsIn {
    @location(0) position: vec3<f32>,
    @location(1) normal: vec3<f32>,
    @location(2) color: vec4<f32>,
};
struct VsOut {
    @builtin(position) clip: vec4<f32>,
    @location(0) normal: vec3<f32>,
    @location(1) color: vec4<f32>,
    @location(2) world: vec3<f32>,
};

@vertex
fn vs_main(v: VsIn) -> VsOut {
    var out: VsOut;
    out.clip = g.clip_from_world * vec4<f32>(v.position, 1.0);
    out.normal = v.normal;
    out.color = v.color;
    out.world = v.position;
    return out;
}

@fragment
fn fs_main(in: VsOut) -> @location(0) vec4<f32> {
    var n = normalize(in.normal);
    let to_eye = normalize(g.eye_world.xyz - in.world);
    if (dot(n, to_eye) < 0.0) {
        n = -n;
    }
    let key = max(dot(n, normalize(g.light_dir.xyz)), 0.0);
    let head = max(dot(n, to_eye), 0.0);
    let shade = 0.22 + 0.45 * head + 0.4 * key;
    return vec4<f32>(in.color.rgb * min(shade, 1.15), in.color.a);
}

// Wireframe: the mesh's own vertex buffer drawn as lines in a dark shade of the vertex colour.
@fragment
fn fs_wire(in: VsOut) -> @location(0) vec4<f32> {
    return vec4<f32>(in.color.rgb * 0.25, 1.0);
}
