# Sourced by scripts/run and scripts/test: the environment the build, the app and the tests need.
# cargo from rustup when it is not on PATH yet (fresh machine, setup just installed it).
if ! command -v cargo >/dev/null 2>&1 && [ -f "$HOME/.cargo/env" ]; then
  # shellcheck disable=SC1091
  . "$HOME/.cargo/env"
fi
# Lean builds: no debug info (CARGO_PROFILE_DEV_DEBUG is also set in .cargo/config.toml).
export CARGO_PROFILE_DEV_DEBUG=0
# winit/wgpu want a private runtime dir; a missing one only prints a warning, so make one.
if [ -z "${XDG_RUNTIME_DIR:-}" ] || [ ! -d "${XDG_RUNTIME_DIR}" ]; then
  XDG_RUNTIME_DIR="${TMPDIR:-/tmp}/carve-runtime-$(id -u)"
  mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
  export XDG_RUNTIME_DIR
fi
