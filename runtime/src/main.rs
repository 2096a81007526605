//! The `podrt` binary: parse, set up logging, dispatch, map errors to exit codes.
#![deny(unsafe_code)]

use std::io::Write;
use std::os::fd::AsFd;
use std::process::ExitCode;

use anyhow::{bail, Context as _, Result};
use podrt_runtime::cli::{Cli, Command, Format, LogFormat};
use podrt_runtime::container::{
    self, create::CreateOptions, exec::ExecOptions, lifecycle, Context,
};

/// `println!` that ends podrt quietly with 141 (what SIGPIPE does to a C or Go runtime) when
/// the reader went away (`podrt state ID | grep -q running`) instead of panicking.
macro_rules! print_line {
    ($($arg:tt)*) => {
        print_stdout(format_args!($($arg)*))
    };
}

fn print_stdout(args: std::fmt::Arguments<'_>) {
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_fmt(args).and_then(|()| out.write_all(b"\n")) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(141);
        }
        eprintln!("podrt: write to stdout: {e}");
        std::process::exit(1);
    }
}

/// Small allocations from kept chunks instead of musl's map-and-unmap (sys/heap.rs).
#[global_allocator]
static HEAP: podrt_runtime::sys::heap::Heap = podrt_runtime::sys::heap::Heap::new();

fn main() -> ExitCode {
    let cli = podrt_runtime::cli::parse();
    let g = &cli.global;
    if let Err(e) =
        podrt_runtime::logging::init(g.log.as_deref(), g.log_format == LogFormat::Json, g.debug)
    {
        eprintln!("podrt: {e}");
        return ExitCode::from(1);
    }
    if g.timings || std::env::var_os("PODRT_TIMINGS").is_some_and(|v| v == "1") {
        podrt_runtime::timings::enable();
    }
    let code = match dispatch(&cli) {
        Ok(code) => code,
        Err(e) => {
            let msg = error_message(&e);
            if g.log.is_some() {
                tracing::error!("{msg}");
            }
            eprintln!("podrt: {msg}");
            1
        }
    };
    podrt_runtime::timings::report();
    ExitCode::from(u8::try_from(code.clamp(0, 255)).unwrap_or(1))
}

/// The error and its causes, each cause added only when the message does not already say it
/// (podrt's error types put their source into their own message).
fn error_message(e: &anyhow::Error) -> String {
    let mut msg = e.to_string();
    for cause in e.chain().skip(1) {
        let c = cause.to_string();
        if !msg.contains(&c) {
            msg.push_str(": ");
            msg.push_str(&c);
        }
    }
    msg
}

fn dispatch(cli: &Cli) -> Result<i32> {
    let g = &cli.global;
    if g.systemd_cgroup {
        bail!("--systemd-cgroup is not supported yet: podrt manages cgroups through cgroupfs");
    }
    let ctx = Context {
        root: g.root.clone(),
    };
    match &cli.command {
        Command::Create(a) => {
            let opts = create_options(a, true);
            container::create::create(&ctx, &opts)?;
            Ok(0)
        }
        Command::Start(a) => {
            lifecycle::start(&ctx, &a.id)?;
            Ok(0)
        }
        Command::Run(a) => {
            let podrt_runtime::cli::RunArgs {
                create,
                detach,
                keep,
                bridge,
                subnet,
                image_store,
                seccomp_profiles,
                ..
            } = a;
            // `podrt run pod.yml` runs a pod; `podrt run ID` an OCI bundle.
            let manifest = std::path::Path::new(&create.id);
            let is_manifest =
                (create.id.ends_with(".yml") || create.id.ends_with(".yaml")) && manifest.is_file();
            if is_manifest {
                let opts = podrt_runtime::pod::RunPodOptions {
                    manifest: manifest.to_path_buf(),
                    detach: *detach,
                    bridge: bridge.clone(),
                    subnet: subnet.clone(),
                    image_store: image_store
                        .clone()
                        .unwrap_or_else(podrt_runtime::image::default_store_root),
                    seccomp_profile_root: seccomp_profiles.clone(),
                };
                return Ok(podrt_runtime::pod::run(&ctx, &opts)?);
            }
            run(&ctx, create, *detach, *keep)
        }
        Command::Pod(p) => pod_command(&ctx, p),
        Command::State(a) => {
            let v = lifecycle::state(&ctx, &a.id)?;
            print_line!("{}", serde_json::to_string_pretty(&v)?);
            Ok(0)
        }
        Command::Kill(podrt_runtime::cli::KillArgs { id, signal, all }) => {
            let sig = lifecycle::parse_signal(signal.as_deref().unwrap_or("TERM"))?;
            lifecycle::kill(&ctx, id, sig, *all)?;
            Ok(0)
        }
        Command::Delete(podrt_runtime::cli::DeleteArgs { id, force }) => {
            lifecycle::delete(&ctx, id, *force)?;
            Ok(0)
        }
        Command::List(podrt_runtime::cli::ListArgs { format, quiet }) => {
            list(&ctx, *format, *quiet)?;
            Ok(0)
        }
        Command::Ps(podrt_runtime::cli::PsArgs {
            id,
            format,
            ps_args,
        }) => {
            ps(&ctx, id, *format, ps_args)?;
            Ok(0)
        }
        Command::Pause(a) => {
            lifecycle::pause(&ctx, &a.id, true)?;
            Ok(0)
        }
        Command::Resume(a) => {
            lifecycle::pause(&ctx, &a.id, false)?;
            Ok(0)
        }
        Command::Exec(a) => {
            let opts = ExecOptions {
                id: a.id.clone(),
                process_file: a.process.clone(),
                args: a.command.clone(),
                env: a.env.clone(),
                cwd: a.cwd.clone(),
                user: a.user.clone(),
                additional_gids: a.additional_gids.clone(),
                tty: a.tty,
                console_socket: a.console_socket.clone(),
                detach: a.detach,
                pid_file: a.pid_file.clone(),
                no_new_privs: a.no_new_privs,
                caps: a.cap.clone(),
                preserve_fds: a.preserve_fds,
            };
            match container::exec::exec(&ctx, &opts)? {
                container::exec::ExecOutcome::Detached(_) => Ok(0),
                container::exec::ExecOutcome::Exited(code) => Ok(code),
            }
        }
        Command::Events(podrt_runtime::cli::EventsArgs {
            id,
            stats,
            interval,
        }) => {
            let secs: f64 = interval
                .trim_end_matches('s')
                .parse()
                .with_context(|| format!("--interval {interval:?}: use seconds like 5s"))?;
            let every = std::time::Duration::from_secs_f64(secs.max(0.1));
            container::events::events(&ctx, id, *stats, every)?;
            Ok(0)
        }
        Command::Update(a) => {
            use container::update::{parse_bytes, UpdateFlags};
            let bytes = |v: &Option<String>| v.as_deref().map(parse_bytes).transpose();
            let flags = UpdateFlags {
                blkio_weight: a.blkio_weight,
                cpu_period: a.cpu_period,
                cpu_quota: a.cpu_quota,
                cpu_rt_period: a.cpu_rt_period,
                cpu_rt_runtime: a.cpu_rt_runtime,
                cpu_shares: a.cpu_share,
                cpuset_cpus: a.cpuset_cpus.clone(),
                cpuset_mems: a.cpuset_mems.clone(),
                memory: bytes(&a.memory)?,
                memory_reservation: bytes(&a.memory_reservation)?,
                memory_swap: bytes(&a.memory_swap)?,
                pids_limit: a.pids_limit,
            };
            container::update::update(&ctx, &a.id, a.resources.as_deref(), &flags)?;
            Ok(0)
        }
        Command::Check(a) => podrt_runtime::cli::check::run(&g.root, a.format),
        Command::Image(a) => Ok(podrt_runtime::cli::image::run(a)?),
        Command::Features => {
            let v = podrt_runtime::cli::features::features();
            print_line!("{}", serde_json::to_string_pretty(&v)?);
            Ok(0)
        }
        Command::Spec(podrt_runtime::cli::SpecArgs { bundle }) => {
            let rootless = g.rootless.as_deref() == Some("true");
            let path = bundle.join("config.json");
            if path.exists() {
                bail!("{} exists: remove it first", path.display());
            }
            let v = podrt_runtime::cli::spec::default_spec(rootless);
            std::fs::write(&path, serde_json::to_string_pretty(&v)? + "\n")
                .with_context(|| format!("write {}", path.display()))?;
            Ok(0)
        }
    }
}

fn pod_command(ctx: &Context, p: &podrt_runtime::cli::PodCommand) -> Result<i32> {
    use podrt_runtime::cli::PodCommand;
    match p {
        PodCommand::List { format } => {
            let pods = podrt_runtime::pod::list(&ctx.root);
            if *format == Format::Json {
                print_line!("{}", serde_json::to_string(&pods)?);
                return Ok(0);
            }
            print_line!(
                "{:<20} {:<14} {:<16} {:<8} CREATED",
                "NAME",
                "PHASE",
                "IP",
                "APPS"
            );
            for p in pods {
                let ready = p.apps.iter().filter(|a| !a.init && a.ready).count();
                let total = p.apps.iter().filter(|a| !a.init).count();
                print_line!(
                    "{:<20} {:<14} {:<16} {:<8} {}",
                    p.name,
                    p.phase,
                    p.ip.unwrap_or_default(),
                    format!("{ready}/{total}"),
                    p.created
                );
            }
            Ok(0)
        }
        PodCommand::Inspect { name } => {
            let st = podrt_runtime::pod::inspect(&ctx.root, name)?;
            print_line!("{}", serde_json::to_string_pretty(&st)?);
            Ok(0)
        }
        PodCommand::Stop { name, force } => {
            podrt_runtime::pod::stop(&ctx.root, name, *force)?;
            Ok(0)
        }
    }
}

fn create_options(a: &podrt_runtime::cli::CreateArgs, use_fifo: bool) -> CreateOptions {
    CreateOptions {
        id: a.id.clone(),
        bundle: a.bundle.clone(),
        pid_file: a.pid_file.clone(),
        console_socket: a.console_socket.clone(),
        no_pivot: a.no_pivot,
        preserve_fds: a.preserve_fds,
        use_fifo,
        console_size: None,
        stdio: None,
    }
}

/// `run`: create + start (+ wait + delete unless detached).
fn run(ctx: &Context, a: &podrt_runtime::cli::CreateArgs, detach: bool, keep: bool) -> Result<i32> {
    if !detach {
        // Signals sent to us before the container exists are held, then forwarded.
        podrt_runtime::signals::block_forwarded()?;
        podrt_runtime::sys::set_child_subreaper()?;
    }
    // A detached run behaves like create + start; a foreground one skips the fifo.
    let mut opts = create_options(a, detach);
    // A terminal without a console socket: podrt holds the pty and proxies its own stdio.
    let console = if !detach && a.console_socket.is_none() && wants_terminal(&a.bundle) {
        let l = podrt_runtime::console::ConsoleListener::new(&ctx.root)?;
        opts.console_socket = Some(l.path());
        opts.console_size = podrt_runtime::sys::get_winsize(std::io::stdin().as_fd()).ok();
        Some(l)
    } else {
        None
    };
    let created = container::create::create(ctx, &opts)?;
    if detach {
        lifecycle::start(ctx, &a.id)?;
        return Ok(0);
    }
    podrt_runtime::timings::mark("started");
    lifecycle::run_poststart(&created.state, created.pid);
    let code = match console {
        Some(l) => {
            let master = l.receive_master()?;
            drop(l);
            podrt_runtime::console::proxy_until_exit(master, created.pid)?
        }
        None => container::exec::wait_forwarding(created.pid)?,
    };
    podrt_runtime::timings::mark("exited");
    if let Some(msg) = created
        .state
        .cgroup
        .as_ref()
        .and_then(container::events::oom_message)
    {
        eprintln!("podrt: container {} was killed: {msg}", a.id);
    }
    if !keep {
        lifecycle::delete(ctx, &a.id, true)?;
        podrt_runtime::timings::mark("deleted");
    }
    Ok(code)
}

/// Whether the bundle's process asks for a terminal (a cheap look before create reads it fully).
fn wants_terminal(bundle: &std::path::Path) -> bool {
    container::load_spec(bundle)
        .ok()
        .and_then(|s| s.process().as_ref().and_then(|p| p.terminal()))
        .unwrap_or(false)
}

fn list(ctx: &Context, format: Format, quiet: bool) -> Result<()> {
    let all = lifecycle::list(ctx)?;
    let mut out = std::io::stdout().lock();
    if quiet {
        for (st, _) in &all {
            writeln!(out, "{}", st.id)?;
        }
        return Ok(());
    }
    match format {
        Format::Json => {
            let v: Vec<serde_json::Value> = all.iter().map(|(st, s)| st.oci_json(*s)).collect();
            if v.is_empty() {
                writeln!(out, "null")?;
            } else {
                writeln!(out, "{}", serde_json::to_string(&v)?)?;
            }
        }
        Format::Table => {
            let rows: Vec<[String; 6]> = all
                .iter()
                .map(|(st, s)| {
                    let pid = if *s == podrt_runtime::state::Status::Stopped {
                        0
                    } else {
                        st.pid.unwrap_or(0)
                    };
                    [
                        st.id.clone(),
                        pid.to_string(),
                        s.to_string(),
                        st.bundle.display().to_string(),
                        st.created.clone(),
                        st.owner.clone(),
                    ]
                })
                .collect();
            let header = ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"].map(String::from);
            let mut widths = [0_usize; 6];
            for r in std::iter::once(&header).chain(rows.iter()) {
                for (i, c) in r.iter().enumerate() {
                    widths[i] = widths[i].max(c.len());
                }
            }
            for r in std::iter::once(&header).chain(rows.iter()) {
                let line: Vec<String> = r
                    .iter()
                    .enumerate()
                    .map(|(i, c)| format!("{c:<w$}", w = widths[i]))
                    .collect();
                writeln!(out, "{}", line.join("   ").trim_end())?;
            }
        }
    }
    Ok(())
}

fn ps(ctx: &Context, id: &str, format: Format, ps_args: &[String]) -> Result<()> {
    let pids = lifecycle::pids(ctx, id)?;
    if format == Format::Json {
        print_line!("{}", serde_json::to_string(&pids)?);
        return Ok(());
    }
    let args: Vec<String> = if ps_args.is_empty() {
        vec!["-ef".into()]
    } else {
        ps_args.to_vec()
    };
    let out = std::process::Command::new("ps")
        .args(&args)
        .output()
        .context("run ps")?;
    if !out.status.success() {
        bail!(
            "ps {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default();
    let pid_col = header
        .split_whitespace()
        .position(|h| h == "PID")
        .context("ps output has no PID column")?;
    print_line!("{header}");
    for l in lines {
        let pid: Option<i32> = l
            .split_whitespace()
            .nth(pid_col)
            .and_then(|p| p.parse().ok());
        if pid.is_some_and(|p| pids.contains(&p)) {
            print_line!("{l}");
        }
    }
    Ok(())
}
