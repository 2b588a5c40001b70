//! Facts about the machine that do not change while the agent runs: boot
//! time (the Summary's node `startTime`) and the identifiers cAdvisor puts
//! on its `machine_*` metrics. Read once at start, not on every pass.
//!
//! Each is optional: a fact that cannot be read (no DMI on a VM, a product
//! UUID readable only by root, no `/etc/machine-id` in a container) is left
//! empty, as cAdvisor leaves it, and logged at debug level.

use std::path::Path;

use workingset_model::metrics::Time;

use crate::serve::MachineIdentity;

/// Boot time and identifiers of the machine.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MachineFacts {
    /// When the machine booted (`btime` of `/proc/stat`).
    pub boot_time: Option<Time>,
    /// machine-id, system UUID, boot id.
    pub identity: MachineIdentity,
}

impl MachineFacts {
    /// Reads the facts below the given procfs and sysfs mounts.
    ///
    /// `machine-id` is looked for in the `etc` directory next to the procfs
    /// mount (`/proc` → `/etc`, `/host/proc` → `/host/etc`), which is where a
    /// host's root is mounted in an agent's pod.
    pub fn read(proc_root: &Path, sys_root: &Path) -> Self {
        let etc = proc_root.parent().unwrap_or(Path::new("/")).join("etc");
        let machine_id = first_readable(&[
            &etc.join("machine-id"),
            &etc.join("../var/lib/dbus/machine-id"),
        ]);
        Self {
            boot_time: read(&proc_root.join("stat")).and_then(|stat| boot_time(&stat)),
            identity: MachineIdentity {
                machine_id,
                system_uuid: first_readable(&[&sys_root.join("class/dmi/id/product_uuid")]),
                boot_id: first_readable(&[&proc_root.join("sys/kernel/random/boot_id")]),
            },
        }
    }
}

fn read(path: &Path) -> Option<String> {
    match std::fs::read_to_string(path) {
        Ok(text) => Some(text),
        Err(error) => {
            tracing::debug!(path = %path.display(), %error, "Machine fact not readable");
            None
        }
    }
}

/// The trimmed content of the first file that is readable and not empty;
/// empty when none is.
fn first_readable(paths: &[&Path]) -> String {
    paths
        .iter()
        .filter_map(|path| read(path))
        .map(|text| text.trim().to_owned())
        .find(|text| !text.is_empty())
        .unwrap_or_default()
}

/// `btime <seconds>` of `/proc/stat`.
fn boot_time(stat: &str) -> Option<Time> {
    let seconds = stat
        .lines()
        .find_map(|line| line.strip_prefix("btime "))?
        .trim()
        .parse::<i64>()
        .ok()?;
    jiff::Timestamp::from_second(seconds).ok().map(Time)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boot_time_is_btime() {
        let stat = "cpu  1 2 3\nintr 5\nbtime 1700000000\nprocesses 9\n";
        assert_eq!(
            boot_time(stat).map(|t| t.0.as_second()),
            Some(1_700_000_000)
        );
        assert_eq!(boot_time("cpu 1\n"), None);
    }

    #[test]
    fn missing_facts_are_empty() {
        let dir = tempfile::tempdir().unwrap();
        let facts = MachineFacts::read(&dir.path().join("proc"), &dir.path().join("sys"));
        assert_eq!(facts, MachineFacts::default());
    }

    #[test]
    fn facts_are_read_next_to_procfs() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::create_dir_all(root.join("proc/sys/kernel/random")).unwrap();
        std::fs::write(root.join("etc/machine-id"), "abc123\n").unwrap();
        std::fs::write(root.join("proc/sys/kernel/random/boot_id"), "b-o-o-t\n").unwrap();
        std::fs::write(root.join("proc/stat"), "btime 1600000000\n").unwrap();
        let facts = MachineFacts::read(&root.join("proc"), &root.join("sys"));
        assert_eq!(facts.identity.machine_id, "abc123");
        assert_eq!(facts.identity.boot_id, "b-o-o-t");
        assert_eq!(facts.identity.system_uuid, "");
        assert_eq!(
            facts.boot_time.map(|t| t.0.as_second()),
            Some(1_600_000_000)
        );
    }
}
