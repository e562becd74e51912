//! `CARVE_FRAME_STATS=1`: the window repaints continuously and prints frame-interval statistics to
//! stderr every 2 s, split by whether a background task ran, plus the app's own `ui` time per frame,
//! to measure the window's frame time (tests/gui_window.rs reads these lines).

use std::time::Instant;

/// Frame intervals, split by whether a background task was running.
#[derive(Default)]
pub struct FrameStats {
    last: Option<Instant>,
    since_report: Option<Instant>,
    busy_ms: Vec<f64>,
    idle_ms: Vec<f64>,
    /// Time spent in the app's `ui` per frame.
    ui_ms: Vec<f64>,
}

impl FrameStats {
    /// On when `$CARVE_FRAME_STATS` is set.
    pub fn from_env() -> Option<Self> {
        std::env::var_os("CARVE_FRAME_STATS").map(|_| Self::default())
    }

    /// Records one frame; reports every 2 s and asks for the next frame at once.
    pub fn frame(&mut self, busy: bool, ctx: &egui::Context) {
        let now = Instant::now();
        if let Some(last) = self.last {
            let ms = (now - last).as_secs_f64() * 1e3;
            if busy { self.busy_ms.push(ms) } else { self.idle_ms.push(ms) }
        }
        self.last = Some(now);
        let since = *self.since_report.get_or_insert(now);
        if (now - since).as_secs_f64() >= 2.0 {
            for (what, v) in [("busy", &mut self.busy_ms), ("idle", &mut self.idle_ms), ("ui", &mut self.ui_ms)] {
                if v.is_empty() {
                    continue;
                }
                v.sort_by(f64::total_cmp);
                eprintln!(
                    "frame-stats {what}: n={} median={:.1}ms p95={:.1}ms max={:.1}ms",
                    v.len(),
                    v[v.len() / 2],
                    v[v.len() * 95 / 100],
                    v[v.len() - 1]
                );
                v.clear();
            }
            self.since_report = Some(now);
        }
        ctx.request_repaint();
    }

    /// Records the time the app's `ui` took this frame.
    pub fn ui_time(&mut self, started: Instant) {
        self.ui_ms.push(started.elapsed().as_secs_f64() * 1e3);
    }
}
