//! A terminal for the live views: a tmux server of the test's own (on a
//! socket it names) running one 120×40 window.

use std::path::Path;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// One tmux server and its window `w`; killed on drop.
pub struct Tmux {
    socket: PathBuf,
}

impl Tmux {
    /// Starts `command` (a shell command line) in a new 120×40 window.
    pub fn start(socket: &Path, command: &str) -> Tmux {
        assert!(
            Command::new("tmux").arg("-V").output().is_ok(),
            "tmux is not installed: apt-get install -y tmux (.ci/run does)"
        );
        let tmux = Tmux {
            socket: socket.to_path_buf(),
        };
        let status = tmux
            .cmd()
            .args(["new-session", "-d", "-s", "w", "-x", "120", "-y", "40"])
            .arg(command)
            .env_remove("LD_PRELOAD")
            .status()
            .expect("tmux runs");
        assert!(status.success());
        tmux
    }

    /// A tmux command on this server.
    pub fn cmd(&self) -> Command {
        let mut c = Command::new("tmux");
        c.arg("-S").arg(&self.socket);
        c
    }

    /// The window's text as shown now.
    pub fn screen(&self) -> String {
        let out = self
            .cmd()
            .args(["capture-pane", "-p", "-t", "w"])
            .output()
            .expect("capture");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Types `keys` (tmux key names: `q`, `C-c`, `Enter`, words).
    pub fn keys(&self, keys: &[&str]) {
        let status = self
            .cmd()
            .args(["send-keys", "-t", "w"])
            .args(keys)
            .status()
            .expect("send-keys");
        assert!(status.success());
    }

    /// Waits up to 30 s until the screen satisfies `ready`; returns it.
    pub fn wait_for(&self, what: &str, ready: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let screen = self.screen();
            if ready(&screen) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "the screen never showed {what}:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Whether the window's command still runs.
    pub fn running(&self) -> bool {
        self.cmd()
            .args(["has-session", "-t", "w"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd().arg("kill-server").stderr(Stdio::null()).status();
    }
}
