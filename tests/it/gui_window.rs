//! The README's run command opens the window: `carve` with no arguments starts under Xvfb, shows a
//! window titled "Carve", stays up, and shows the embedded demo photo (pixels read back with xwd).
use crate::common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Kills the child process when dropped, so a failing assertion never leaks Xvfb or carve.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_display() -> u32 {
    (90..200)
        .find(|n| {
            !std::path::Path::new(&format!("/tmp/.X11-unix/X{n}")).exists()
                && !std::path::Path::new(&format!("/tmp/.X{n}-lock")).exists()
        })
        .expect("no free X display number")
}

/// Decodes an XWD (ZPixmap, 32 bits per pixel) screenshot into RGB rows.
fn parse_xwd(data: &[u8]) -> (usize, usize, Vec<[u8; 3]>) {
    let field = |i: usize| u32::from_be_bytes(data[i * 4..i * 4 + 4].try_into().unwrap()) as usize;
    let (header_size, width, height) = (field(0), field(4), field(5));
    let (lsb_first, bits_per_pixel, bytes_per_line) = (field(7) == 0, field(11), field(12));
    let (red_mask, green_mask, blue_mask, ncolors) = (field(14), field(15), field(16), field(19));
    assert_eq!(bits_per_pixel, 32, "unexpected XWD pixel size");
    let start = header_size + ncolors * 12;
    let channel = |v: usize, mask: usize| ((v & mask) >> mask.trailing_zeros()) as u8;
    let mut pixels = Vec::with_capacity(width * height);
    for y in 0..height {
        for x in 0..width {
            let o = start + y * bytes_per_line + x * 4;
            let b: [u8; 4] = data[o..o + 4].try_into().unwrap();
            let v = if lsb_first { u32::from_le_bytes(b) } else { u32::from_be_bytes(b) } as usize;
            pixels.push([channel(v, red_mask), channel(v, green_mask), channel(v, blue_mask)]);
        }
    }
    (width, height, pixels)
}

#[test]
fn run_command_opens_the_demo_window_and_stays_up() {
    let tmp = tempfile::tempdir().unwrap();
    let display = format!(":{}", free_display());
    let xvfb = Command::new("Xvfb")
        .args([display.as_str(), "-screen", "0", "1280x1024x24", "-nolisten", "tcp"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("Xvfb is missing: run `make test` (scripts/setup.sh installs xvfb)");
    let _xvfb = Guard(xvfb);
    let socket = format!("/tmp/.X11-unix/X{}", &display[1..]);
    let t0 = Instant::now();
    while !std::path::Path::new(&socket).exists() {
        assert!(t0.elapsed() < Duration::from_secs(20), "Xvfb did not start");
        std::thread::sleep(Duration::from_millis(100));
    }

    let runtime_dir = tmp.path().join("runtime");
    std::fs::create_dir_all(&runtime_dir).unwrap();
    let carve = common::carve(tmp.path())
        .env("DISPLAY", &display)
        .env_remove("WAYLAND_DISPLAY")
        .env("XDG_RUNTIME_DIR", &runtime_dir)
        .env("CARVE_FRAME_STATS", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut carve = Guard(carve);

    // The window appears…
    let t0 = Instant::now();
    loop {
        let tree = Command::new("xwininfo").args(["-root", "-tree", "-display", &display]).output().unwrap();
        if String::from_utf8_lossy(&tree.stdout).contains("\"Carve\"") {
            break;
        }
        if let Some(status) = carve.0.try_wait().unwrap() {
            let mut stderr = String::new();
            std::io::Read::read_to_string(carve.0.stderr.as_mut().unwrap(), &mut stderr).unwrap();
            panic!("carve exited ({status}) before showing its window:\n{stderr}");
        }
        assert!(t0.elapsed() < Duration::from_secs(120), "no window titled Carve after 120 s");
        std::thread::sleep(Duration::from_millis(250));
    }

    // …shows the demo photo in the photo pane (x < 770 px: the red ball and the blue mug) and, in
    // the 3D pane (right of it), the photo placed at its camera, rendered by the wgpu renderer…
    let t0 = Instant::now();
    let counts = loop {
        let shot = Command::new("xwd").args(["-root", "-silent", "-display", &display]).output().unwrap();
        assert!(shot.status.success(), "xwd failed (x11-apps is installed by scripts/setup.sh)");
        let (width, _, pixels) = parse_xwd(&shot.stdout);
        let (mut left, mut right) = ([0usize; 2], [0usize; 2]);
        for (i, [r, g, b]) in pixels.iter().enumerate() {
            let x = i % width;
            let side = if x < 770 { &mut left } else { &mut right };
            side[0] += usize::from(*r > 150 && *g < 70 && *b < 70);
            side[1] += usize::from(*b > 130 && *r < 80 && *g < 110);
        }
        let done = left[0] > 2_000 && left[1] > 2_000 && right[0] > 300 && right[1] > 300;
        if done || t0.elapsed() > Duration::from_secs(60) {
            break (left, right);
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    let (left, right) = counts;
    assert!(left[0] > 2_000 && left[1] > 2_000, "demo photo not visible: {} red and {} blue pixels", left[0], left[1]);
    assert!(
        right[0] > 300 && right[1] > 300,
        "3D view does not show the photo: {} red and {} blue pixels",
        right[0],
        right[1]
    );

    // …and stays up.
    std::thread::sleep(Duration::from_secs(3));
    assert!(carve.0.try_wait().unwrap().is_none(), "carve exited on its own");

    // Clicking the blue mug in the photo pane segments it: the mask overlay tints the mug, so
    // the strongly blue pixels of the pane mostly disappear.
    let blue_pixels = || -> Vec<(usize, usize)> {
        let shot = Command::new("xwd").args(["-root", "-silent", "-display", &display]).output().unwrap();
        let (width, _, pixels) = parse_xwd(&shot.stdout);
        pixels
            .iter()
            .enumerate()
            .filter(|(i, [r, g, b])| i % width < 770 && *b > 130 && *r < 80 && *g < 110)
            .map(|(i, _)| (i % width, i / width))
            .collect()
    };
    let before = blue_pixels();
    assert!(before.len() > 2_000, "mug not found on screen");
    let (cx, cy) = (
        before.iter().map(|p| p.0).sum::<usize>() / before.len(),
        before.iter().map(|p| p.1).sum::<usize>() / before.len(),
    );
    let click = Command::new("xdotool")
        .args(["mousemove", &cx.to_string(), &cy.to_string(), "click", "1"])
        .env("DISPLAY", &display)
        .status()
        .expect("xdotool (scripts/setup.sh installs it)");
    assert!(click.success());
    let t0 = Instant::now();
    let after = loop {
        std::thread::sleep(Duration::from_millis(500));
        let after = blue_pixels().len();
        if after * 3 < before.len() || t0.elapsed() > Duration::from_secs(30) {
            break after;
        }
    };
    assert!(after * 3 < before.len(), "no mask overlay after clicking the mug: {} → {after} blue pixels", before.len());
    assert!(carve.0.try_wait().unwrap().is_none(), "carve exited after the click");
    // `CARVE_SCREENSHOT=docs/window.png cargo test --test gui_window` keeps this frame for the README.
    if let Some(path) = std::env::var_os("CARVE_SCREENSHOT") {
        std::thread::sleep(Duration::from_secs(1));
        let shot = Command::new("xwd").args(["-root", "-silent", "-display", &display]).output().unwrap();
        let (width, height, pixels) = parse_xwd(&shot.stdout);
        let (w, h) = (width.min(1280), height.min(820));
        let img =
            image::RgbImage::from_fn(w as u32, h as u32, |x, y| image::Rgb(pixels[y as usize * width + x as usize]));
        img.save(&path).unwrap();
    }

    // A long task in the background: "Lift selected to 3D" (its place in the fixed 1280×820
    // layout, under the new mask's row) while the window keeps painting (it repaints continuously
    // under CARVE_FRAME_STATS and reports its frame intervals).
    let viewport_blue = || -> usize {
        let shot = Command::new("xwd").args(["-root", "-silent", "-display", &display]).output().unwrap();
        let (width, _, pixels) = parse_xwd(&shot.stdout);
        pixels
            .iter()
            .enumerate()
            .filter(|(i, [r, g, b])| {
                i % width > 810 && i % width < 1270 && *b > 90 && (*b as i32) > *r as i32 + 40 && *g < 140
            })
            .count()
    };
    let blue_before = viewport_blue();
    let click = Command::new("xdotool")
        .args(["mousemove", "68", "341", "click", "1"])
        .env("DISPLAY", &display)
        .status()
        .unwrap();
    assert!(click.success());
    let t0 = Instant::now();
    let blue_after = loop {
        std::thread::sleep(Duration::from_millis(500));
        let now = viewport_blue();
        if now > blue_before + 1_000 || t0.elapsed() > Duration::from_secs(120) {
            break now;
        }
    };
    assert!(
        blue_after > blue_before + 1_000,
        "the lifted mug never appeared in the 3D pane ({blue_before} → {blue_after})"
    );
    std::thread::sleep(Duration::from_millis(2_500));
    assert!(carve.0.try_wait().unwrap().is_none(), "carve exited during the lift");
    let _ = carve.0.kill();
    let _ = carve.0.wait();
    let mut stderr = String::new();
    std::io::Read::read_to_string(carve.0.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    let stats: Vec<&str> = stderr.lines().filter(|l| l.starts_with("frame-stats")).collect();
    for l in &stats {
        eprintln!("{l}");
    }
    assert!(stats.iter().any(|l| l.starts_with("frame-stats busy")), "no frames while the lift ran:\n{stderr}");
}
