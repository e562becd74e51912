// 3D Gaussian splats: EWA projection of each 3D covariance to a 2D screen-space Gaussian,
// spherical harmonics (degree 0..3) evaluated per view direction, premultiplied alpha blended
// back to front (the instances arrive sorted far-to-near through `order`).
struct Splat {
    // xyz = position, w = opacity
    a: vec4<f32>,
    // covariance xx, xy, xz, yy
    b: vec4<f32>,
    // covariance yz, zz, unused, unused
    c: vec4<f32>,
};
struct Cloud {
    // x = SH degree, y = floats per splat in `sh`
    sh: vec4<u32>,
};
@group(1) @binding(0) var<storage, read> splats: array<Splat>;
@group(1) @binding(1) var<storage, read> sh: array<f32>;
@group(1) @binding(2) var<storage, read> order: array<u32>;
@group(1) @binding(3) var<uniform> cloud: Cloud;

struct VsOut {
    @builtin(position) clip: vec4<f32>,
    @location(0) offset_px: vec2<f32>,
    @location(1) conic: vec3<f32>,
    @location(2) color: vec4<f32>,
};

fn coeff(base: u32, j: u32) -> vec3<f32> {
    let k = base + j * 3u;
    return vec3<f32>(sh[k], sh[k + 1u], sh[k + 2u]);
}

fn sh_color(idx: u32, dir: vec3<f32>) -> vec3<f32> {
    let degree = cloud.sh.x;
    let base = idx * cloud.sh.y;
    var c = 0.2820948 * coeff(base, 0u);
    if (degree >= 1u) {
        let x = dir.x;
        let y = dir.y;
        let z = dir.z;
        c += -0.4886025 * y * coeff(base, 1u) + 0.4886025 * z * coeff(base, 2u) - 0.4886025 * x * coeff(base, 3u);
        if (degree >= 2u) {
            let xx = x * x;
            let yy = y * y;
            let zz = z * z;
            c += 1.0925484 * x * y * coeff(base, 4u)
                - 1.0925484 * y * z * coeff(base, 5u)
                + 0.3153916 * (2.0 * zz - xx - yy) * coeff(base, 6u)
                - 1.0925484 * x * z * coeff(base, 7u)
                + 0.5462742 * (xx - yy) * coeff(base, 8u);
            if (degree >= 3u) {
                c += -0.5900436 * y * (3.0 * xx - yy) * coeff(base, 9u)
                    + 2.8906114 * x * y * z * coeff(base, 10u)
                    - 0.4570458 * y * (4.0 * zz - xx - yy) * coeff(base, 11u)
                    + 0.3731763 * z * (2.0 * zz - 3.0 * xx - 3.0 * yy) * coeff(base, 12u)
                    - 0.4570458 * x * (4.0 * zz - xx - yy) * coeff(base, 13u)
                    + 1.4453057 * z * (xx - yy) * coeff(base, 14u)
                    - 0.5900436 * x * (xx - 3.0 * yy) * coeff(base, 15u);
            }
        }
    }
    return max(c + vec3<f32>(0.5), vec3<f32>(0.0));
}

@vertex
fn vs_main(@builtin(vertex_index) corner: u32, @builtin(instance_index) instance: u32) -> VsOut {
    var out: VsOut;
    let idx = order[instance];
    let s = splats[idx];
    let p_cam = (g.camera_from_world * vec4<f32>(s.a.xyz, 1.0)).xyz;
    // Culled: a position outside the clip volume.
    out.clip = vec4<f32>(0.0, 0.0, 2.0, 1.0);
    if (p_cam.z <= 1e-4) {
        return out;
    }
    let k = g.params.x * g.params.x;
    let cov = mat3x3<f32>(
        vec3<f32>(s.b.x, s.b.y, s.b.z),
        vec3<f32>(s.b.y, s.b.w, s.c.x),
        vec3<f32>(s.b.z, s.c.x, s.c.y)) * k;
    let w_rot = mat3x3<f32>(g.camera_from_world[0].xyz, g.camera_from_world[1].xyz, g.camera_from_world[2].xyz);
    let z = p_cam.z;
    let fx = g.viewport.z;
    let fy = g.viewport.w;
    // Jacobian of (fx x/z, fy y/z); columns of a 3×3 whose third row is zero.
    let j = mat3x3<f32>(
        vec3<f32>(fx / z, 0.0, 0.0),
        vec3<f32>(0.0, fy / z, 0.0),
        vec3<f32>(-fx * p_cam.x / (z * z), -fy * p_cam.y / (z * z), 0.0));
    let t = j * w_rot;
    let cov2 = t * cov * transpose(t);
    // Low-pass filter: every splat covers at least about a pixel.
    let a = cov2[0][0] + 0.3;
    let b = cov2[0][1];
    let c = cov2[1][1] + 0.3;
    let det = a * c - b * b;
    if (det <= 1e-12) {
        return out;
    }
    let mid = 0.5 * (a + c);
    let disc = sqrt(max(mid * mid - det, 0.0));
    let l1 = mid + disc;
    let l2 = max(mid - disc, 1e-6);
    var v1 = vec2<f32>(1.0, 0.0);
    if (abs(b) > 1e-9) {
        v1 = normalize(vec2<f32>(b, l1 - a));
    } else if (c > a) {
        v1 = vec2<f32>(0.0, 1.0);
    }
    let v2 = vec2<f32>(-v1.y, v1.x);
    let q = vec2<f32>(f32(corner & 1u) * 2.0 - 1.0, f32((corner >> 1u) & 1u) * 2.0 - 1.0);
    let offset = q.x * 3.0 * sqrt(l1) * v1 + q.y * 3.0 * sqrt(l2) * v2;
    let centre = g.clip_from_world * vec4<f32>(s.a.xyz, 1.0);
    let ndc = vec2<f32>(2.0 * offset.x / g.viewport.x, -2.0 * offset.y / g.viewport.y);
    out.clip = centre + vec4<f32>(ndc * centre.w, 0.0, 0.0);
    out.offset_px = offset;
    out.conic = vec3<f32>(c / det, -b / det, a / det);
    let dir = normalize(s.a.xyz - g.eye_world.xyz);
    out.color = vec4<f32>(sh_color(idx, dir), s.a.w);
    return out;
}

@fragment
fn fs_main(in: VsOut) -> @location(0) vec4<f32> {
    let d = in.offset_px;
    let power = -0.5 * (in.conic.x * d.x * d.x + in.conic.z * d.y * d.y) - in.conic.y * d.x * d.y;
    if (power > 0.0) {
        discard;
    }
    let alpha = min(0.99, in.color.a * exp(power));
    if (alpha < 1.0 / 255.0) {
        discard;
    }
    return vec4<f32>(in.color.rgb * alpha, alpha);
}
