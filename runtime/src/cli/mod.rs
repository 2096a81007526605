//! The runc-compatible command line: global flags, one subcommand per verb. Options may come
//! before or after the container ID, as `--flag value` or `--flag=value`.

pub mod check;
pub mod features;
pub mod image;
pub mod spec;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// The whole command line. `Cli::parse` builds every subcommand's arguments first; podrt's
/// `main` uses [`parse`], which builds only the subcommand being run (same result, less work on
/// the start path).
#[derive(Debug, Parser)]
#[command(name = "podrt", version, about = ABOUT)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

const ABOUT: &str = "A fast, runc-compatible OCI runtime that also runs pods";

// runc's global flags; they may also follow the subcommand. (A `///` comment here would
// become the program's about text.)
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Directory for container state
    #[arg(long, global = true, default_value = "/run/podrt")]
    pub root: PathBuf,
    /// Log file (containerd and podman read errors from it)
    #[arg(long, global = true)]
    pub log: Option<PathBuf>,
    /// Log format
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Debug logging
    #[arg(long, global = true)]
    pub debug: bool,
    /// Use systemd to manage cgroups (not supported yet)
    #[arg(long, global = true)]
    pub systemd_cgroup: bool,
    /// Accepted for runc compatibility (checkpointing is not supported)
    #[arg(long, global = true, hide = true)]
    pub criu: Option<String>,
    /// true|false|auto; for `spec`, `--rootless` writes the unprivileged variant
    #[arg(long, global = true, num_args = 0..=1, default_missing_value = "true")]
    pub rootless: Option<String>,
    /// Print phase timings as JSON on stderr
    #[arg(long, global = true)]
    pub timings: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Container ID
    pub id: String,
    /// Bundle directory (default: current directory)
    #[arg(short, long, default_value = ".")]
    pub bundle: PathBuf,
    /// Write the init's pid to this file
    #[arg(long)]
    pub pid_file: Option<PathBuf>,
    /// Unix socket that receives the pty master when process.terminal is true
    #[arg(long)]
    pub console_socket: Option<PathBuf>,
    /// Use chroot-like MS_MOVE instead of pivot_root (for ramfs roots)
    #[arg(long)]
    pub no_pivot: bool,
    /// Accepted for runc compatibility: podrt never creates a session keyring
    #[arg(long)]
    pub no_new_keyring: bool,
    /// Pass this many extra fds (3, 4, ...) to the container
    #[arg(long, default_value_t = 0)]
    pub preserve_fds: i32,
}

/// One subcommand per verb. Every variant wraps an `Args` type so [`command`] can build each
/// subcommand on its own; the list there must follow this enum (a unit test compares them).
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a container from a bundle; it waits for `start`
    Create(CreateArgs),
    /// Start a created container
    Start(IdArgs),
    /// Create, start and wait for a container; exits with its status
    Run(RunArgs),
    /// Pods started with `podrt run pod.yml`
    #[command(subcommand)]
    Pod(PodCommand),
    /// Print the OCI state of a container
    State(IdArgs),
    /// Send a signal (name or number, default TERM) to a container
    Kill(KillArgs),
    /// Delete a container
    Delete(DeleteArgs),
    /// List containers
    List(ListArgs),
    /// Processes running in a container
    Ps(PsArgs),
    /// Freeze every process of a container
    Pause(IdArgs),
    /// Thaw a paused container
    Resume(IdArgs),
    /// Run a process in a running container
    Exec(Box<ExecArgs>),
    /// Stream stats and OOM events of a container as JSON lines
    Events(EventsArgs),
    /// Change the resource limits of a running container
    Update(Box<UpdateArgs>),
    /// Print the OCI features document: what this runtime honours
    Features,
    /// Manage the local image store (import, list, rm, ...)
    Image(image::ImageArgs),
    /// Probe the kernel for what podrt needs and uses (exits 1 if a needed feature is missing)
    Check(FormatArgs),
    /// Write a default config.json
    Spec(SpecArgs),
}

/// Parses the process's arguments like `Cli::parse` (same errors, `--help` and `--version`),
/// building the arguments of the chosen subcommand only.
#[must_use]
pub fn parse() -> Cli {
    let matches = command().get_matches();
    <Cli as clap::FromArgMatches>::from_arg_matches(&matches).unwrap_or_else(|e| {
        // Formatting an error needs the full tree; build it only here.
        e.format(&mut <Cli as clap::CommandFactory>::command())
            .exit()
    })
}

/// The command tree of [`Cli`] with each subcommand's arguments deferred until clap needs
/// them (the subcommand being run, or `help`).
#[must_use]
pub fn command() -> clap::Command {
    use clap::Command as C;
    fn sub(name: &'static str, about: &'static str, args: fn(C) -> C) -> C {
        C::new(name).about(about).defer(args)
    }
    let root = C::new("podrt")
        .version(env!("CARGO_PKG_VERSION"))
        .about(ABOUT);
    GlobalArgs::augment_args(root)
        .subcommand_required(true)
        .arg_required_else_help(true)
        .subcommands([
            sub(
                "create",
                "Create a container from a bundle; it waits for `start`",
                CreateArgs::augment_args,
            ),
            sub("start", "Start a created container", IdArgs::augment_args),
            sub(
                "run",
                "Create, start and wait for a container; exits with its status",
                RunArgs::augment_args,
            ),
            sub("pod", "Pods started with `podrt run pod.yml`", |c| {
                PodCommand::augment_subcommands(c)
                    .subcommand_required(true)
                    .arg_required_else_help(true)
            }),
            sub("state", "Print the OCI state of a container", IdArgs::augment_args),
            sub(
                "kill",
                "Send a signal (name or number, default TERM) to a container",
                KillArgs::augment_args,
            ),
            sub("delete", "Delete a container", DeleteArgs::augment_args),
            sub("list", "List containers", ListArgs::augment_args),
            sub("ps", "Processes running in a container", PsArgs::augment_args),
            sub(
                "pause",
                "Freeze every process of a container",
                IdArgs::augment_args,
            ),
            sub("resume", "Thaw a paused container", IdArgs::augment_args),
            sub(
                "exec",
                "Run a process in a running container",
                ExecArgs::augment_args,
            ),
            sub(
                "events",
                "Stream stats and OOM events of a container as JSON lines",
                EventsArgs::augment_args,
            ),
            sub(
                "update",
                "Change the resource limits of a running container",
                UpdateArgs::augment_args,
            ),
            sub(
                "features",
                "Print the OCI features document: what this runtime honours",
                |c| c,
            ),
            sub(
                "image",
                "Manage the local image store (import, list, rm, ...)",
                image::ImageArgs::augment_args,
            ),
            sub(
                "check",
                "Probe the kernel for what podrt needs and uses (exits 1 if a needed feature is missing)",
                FormatArgs::augment_args,
            ),
            sub("spec", "Write a default config.json", SpecArgs::augment_args),
        ])
}

// Just the container ID (no `///`: it would replace the subcommand's about text).
#[derive(Debug, Args)]
pub struct IdArgs {
    pub id: String,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub create: CreateArgs,
    /// Do not wait: leave the container running
    #[arg(short, long)]
    pub detach: bool,
    /// Keep the container's state after it exits
    #[arg(long)]
    pub keep: bool,
    /// Accepted for runc compatibility
    #[arg(long)]
    pub no_subreaper: bool,
    /// Pods: the host bridge
    #[arg(long, default_value = "podrt0")]
    pub bridge: String,
    /// Pods: the subnet pod IPs come from (the bridge gets its first address)
    #[arg(long, default_value = "10.77.0.0/24")]
    pub subnet: String,
    /// Pods: the image store (default $PODRT_IMAGE_STORE or /var/lib/podrt/images)
    #[arg(long)]
    pub image_store: Option<PathBuf>,
    /// Pods: directory of seccompProfile Localhost profiles
    #[arg(long, default_value = "/var/lib/podrt/seccomp")]
    pub seccomp_profiles: PathBuf,
}

#[derive(Debug, Args)]
pub struct KillArgs {
    pub id: String,
    pub signal: Option<String>,
    /// Signal every process in the container's cgroup
    #[arg(short, long)]
    pub all: bool,
}

#[derive(Debug, Args)]
pub struct DeleteArgs {
    pub id: String,
    /// Kill a running container first; succeed if it does not exist
    #[arg(short, long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    #[arg(short, long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Only IDs
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct PsArgs {
    pub id: String,
    #[arg(short, long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Arguments for ps(1) in table format
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub ps_args: Vec<String>,
}

#[derive(Debug, Args)]
pub struct EventsArgs {
    pub id: String,
    /// Print one stats snapshot and exit
    #[arg(long)]
    pub stats: bool,
    /// Seconds between stats events (runc takes "5s"; plain seconds work too)
    #[arg(long, default_value = "5s")]
    pub interval: String,
}

#[derive(Debug, Args)]
pub struct FormatArgs {
    #[arg(short, long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct SpecArgs {
    /// Bundle directory to write config.json into
    #[arg(short, long, default_value = ".")]
    pub bundle: PathBuf,
}

#[derive(Debug, Args)]
pub struct ExecArgs {
    pub id: String,
    /// Command and arguments (unless --process is given)
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
    /// process.json describing the process
    #[arg(short, long)]
    pub process: Option<PathBuf>,
    /// Allocate a pty (needs --console-socket)
    #[arg(short, long)]
    pub tty: bool,
    #[arg(long)]
    pub console_socket: Option<PathBuf>,
    /// Do not wait for the process
    #[arg(short, long)]
    pub detach: bool,
    #[arg(long)]
    pub pid_file: Option<PathBuf>,
    /// Working directory in the container
    #[arg(long)]
    pub cwd: Option<PathBuf>,
    /// Extra environment (KEY=VALUE), repeatable
    #[arg(short, long)]
    pub env: Vec<String>,
    /// UID[:GID]
    #[arg(short, long)]
    pub user: Option<String>,
    /// Additional gids, repeatable
    #[arg(short = 'g', long)]
    pub additional_gids: Vec<u32>,
    #[arg(long)]
    pub no_new_privs: bool,
    /// Add a capability, repeatable
    #[arg(short, long)]
    pub cap: Vec<String>,
    #[arg(long, default_value_t = 0)]
    pub preserve_fds: i32,
    /// Accepted for runc compatibility (no SELinux support)
    #[arg(long, hide = true)]
    pub process_label: Option<String>,
    /// Accepted for runc compatibility (no AppArmor support)
    #[arg(long, hide = true)]
    pub apparmor: Option<String>,
    #[arg(long, hide = true)]
    pub ignore_paused: bool,
}

#[derive(Debug, Args)]
pub struct UpdateArgs {
    pub id: String,
    /// linux.resources JSON from a file, or - for stdin
    #[arg(short, long)]
    pub resources: Option<PathBuf>,
    #[arg(long)]
    pub blkio_weight: Option<u16>,
    #[arg(long)]
    pub cpu_period: Option<u64>,
    #[arg(long, allow_hyphen_values = true)]
    pub cpu_quota: Option<i64>,
    #[arg(long)]
    pub cpu_rt_period: Option<u64>,
    #[arg(long)]
    pub cpu_rt_runtime: Option<i64>,
    #[arg(long)]
    pub cpu_share: Option<u64>,
    #[arg(long)]
    pub cpuset_cpus: Option<String>,
    #[arg(long)]
    pub cpuset_mems: Option<String>,
    /// Memory limit in bytes (suffixes k, m, g accepted; -1 for unlimited)
    #[arg(long, allow_hyphen_values = true)]
    pub memory: Option<String>,
    #[arg(long, allow_hyphen_values = true)]
    pub memory_reservation: Option<String>,
    /// Memory plus swap limit
    #[arg(long, allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    #[arg(long, allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Accepted for runc compatibility; kernel memory limits are ignored by modern kernels
    #[arg(long, hide = true)]
    pub kernel_memory: Option<String>,
    #[arg(long, hide = true)]
    pub kernel_memory_tcp: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum PodCommand {
    /// List pods
    List {
        #[arg(short, long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// A pod's state as JSON: IP, apps, states, restarts, probe results
    Inspect { name: String },
    /// Stop a pod gracefully (its supervisor tears everything down)
    Stop {
        name: String,
        /// Also recover a pod whose `podrt run` was killed
        #[arg(short, long)]
        force: bool,
    },
}

#[cfg(test)]
mod deferred_tests {
    use clap::{CommandFactory, FromArgMatches, Parser};

    use super::Cli;

    /// Help text and every argument's definition (hidden ones too), depth first.
    fn describe(cmd: &mut clap::Command, out: &mut Vec<String>) {
        out.push(cmd.render_long_help().to_string());
        // Propagated global flags come first in one tree and last in the other: sort.
        let mut args: Vec<String> = cmd
            .get_arguments()
            .map(|a| {
                format!(
                    "{} {:?} {:?} {:?} {:?} hide={} global={} required={} {:?}",
                    cmd.get_name(),
                    a.get_id(),
                    a.get_long(),
                    a.get_short(),
                    a.get_default_values(),
                    a.is_hide_set(),
                    a.is_global_set(),
                    a.is_required_set(),
                    a.get_num_args(),
                )
            })
            .collect();
        args.sort();
        out.extend(args);
        let aliases: Vec<&str> = cmd.get_all_aliases().collect();
        out.push(format!("{} aliases {aliases:?}", cmd.get_name()));
        // Skip clap's generated `help` trees: with deferral they list a subcommand's own
        // subcommands only once it is built (`podrt help pod` output is compared below).
        for sub in cmd.get_subcommands_mut().filter(|s| s.get_name() != "help") {
            describe(sub, out);
        }
    }

    #[test]
    fn deferred_tree_matches_the_derived_one() {
        let mut deferred = super::command();
        deferred.build();
        deferred.clone().debug_assert();
        let mut derived = Cli::command();
        derived.build();
        let (mut a, mut b) = (Vec::new(), Vec::new());
        describe(&mut deferred, &mut a);
        describe(&mut derived, &mut b);
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(x, y, "cli::command() differs from the Command enum");
        }
        assert_eq!(a.len(), b.len(), "cli::command() lists other subcommands");
    }

    #[test]
    fn deferred_parse_matches_the_derived_one() {
        for argv in [
            &["podrt", "--root", "/r", "create", "--bundle", "/b", "id1"][..],
            &[
                "podrt",
                "create",
                "id1",
                "--bundle=/b",
                "--root",
                "/r",
                "--log-format=json",
            ],
            &["podrt", "run", "-d", "--bundle", "/b", "x", "--timings"],
            &["podrt", "kill", "--all", "x", "KILL"],
            &["podrt", "delete", "-f", "x"],
            &["podrt", "exec", "--tty", "x", "sh", "-c", "echo -n"],
            &["podrt", "ps", "x", "-eo", "pid"],
            &["podrt", "spec", "--rootless"],
            &["podrt", "pod", "stop", "--force", "p"],
            &["podrt", "image", "ls", "--image-store", "/s", "-q"],
            &[
                "podrt",
                "update",
                "x",
                "--memory",
                "-1",
                "--cpu-quota",
                "-1",
            ],
            &["podrt", "features"],
        ] {
            let derived = Cli::try_parse_from(argv).unwrap();
            let m = super::command().try_get_matches_from(argv).unwrap();
            let deferred = Cli::from_arg_matches(&m).unwrap();
            assert_eq!(format!("{deferred:?}"), format!("{derived:?}"), "{argv:?}");
        }
        for argv in [
            &["podrt", "bogus"][..],
            &["podrt", "start"],
            &["podrt", "kill"],
            &["podrt", "list", "--format", "yaml"],
        ] {
            let derived = Cli::try_parse_from(argv).unwrap_err();
            let deferred = super::command().try_get_matches_from(argv).unwrap_err();
            assert_eq!(deferred.kind(), derived.kind(), "{argv:?}");
        }
        for argv in [
            &["podrt", "help", "pod"][..],
            &["podrt", "help", "image", "import"],
            &["podrt", "run", "--help"],
            &["podrt", "--help"],
            &["podrt", "--version"],
        ] {
            let derived = Cli::try_parse_from(argv).unwrap_err();
            let deferred = super::command().try_get_matches_from(argv).unwrap_err();
            assert_eq!(deferred.kind(), derived.kind(), "{argv:?}");
            assert_eq!(deferred.to_string(), derived.to_string(), "{argv:?}");
        }
    }
}
