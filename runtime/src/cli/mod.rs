//! The runc-compatible command line: global flags, one subcommand per verb. Options may come
//! before or after the container ID, as `--flag value` or `--flag=value`.

pub mod check;
pub mod features;
pub mod image;
pub mod spec;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "podrt",
    version,
    about = "A fast, runc-compatible OCI runtime that also runs pods"
)]
pub struct Cli {
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
    #[command(subcommand)]
    pub command: Command,
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

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a container from a bundle; it waits for `start`
    Create(CreateArgs),
    /// Start a created container
    Start { id: String },
    /// Create, start and wait for a container; exits with its status
    Run {
        #[command(flatten)]
        create: CreateArgs,
        /// Do not wait: leave the container running
        #[arg(short, long)]
        detach: bool,
        /// Keep the container's state after it exits
        #[arg(long)]
        keep: bool,
        /// Accepted for runc compatibility
        #[arg(long)]
        no_subreaper: bool,
        /// Pods: the host bridge
        #[arg(long, default_value = "podrt0")]
        bridge: String,
        /// Pods: the subnet pod IPs come from (the bridge gets its first address)
        #[arg(long, default_value = "10.77.0.0/24")]
        subnet: String,
        /// Pods: the image store (default $PODRT_IMAGE_STORE or /var/lib/podrt/images)
        #[arg(long)]
        image_store: Option<PathBuf>,
        /// Pods: directory of seccompProfile Localhost profiles
        #[arg(long, default_value = "/var/lib/podrt/seccomp")]
        seccomp_profiles: PathBuf,
    },
    /// Pods started with `podrt run pod.yml`
    #[command(subcommand)]
    Pod(PodCommand),
    /// Print the OCI state of a container
    State { id: String },
    /// Send a signal (name or number, default TERM) to a container
    Kill {
        id: String,
        signal: Option<String>,
        /// Signal every process in the container's cgroup
        #[arg(short, long)]
        all: bool,
    },
    /// Delete a container
    Delete {
        id: String,
        /// Kill a running container first; succeed if it does not exist
        #[arg(short, long)]
        force: bool,
    },
    /// List containers
    List {
        #[arg(short, long, value_enum, default_value_t = Format::Table)]
        format: Format,
        /// Only IDs
        #[arg(short, long)]
        quiet: bool,
    },
    /// Processes running in a container
    Ps {
        id: String,
        #[arg(short, long, value_enum, default_value_t = Format::Table)]
        format: Format,
        /// Arguments for ps(1) in table format
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        ps_args: Vec<String>,
    },
    /// Freeze every process of a container
    Pause { id: String },
    /// Thaw a paused container
    Resume { id: String },
    /// Run a process in a running container
    Exec(Box<ExecArgs>),
    /// Stream stats and OOM events of a container as JSON lines
    Events {
        id: String,
        /// Print one stats snapshot and exit
        #[arg(long)]
        stats: bool,
        /// Seconds between stats events (runc takes "5s"; plain seconds work too)
        #[arg(long, default_value = "5s")]
        interval: String,
    },
    /// Change the resource limits of a running container
    Update(Box<UpdateArgs>),
    /// Print the OCI features document: what this runtime honours
    Features,
    /// Manage the local image store (import, list, rm, ...)
    Image(image::ImageArgs),
    /// Probe the kernel for what podrt needs and uses (exits 1 if a needed feature is missing)
    Check {
        #[arg(short, long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Write a default config.json
    Spec {
        /// Bundle directory to write config.json into
        #[arg(short, long, default_value = ".")]
        bundle: PathBuf,
    },
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
