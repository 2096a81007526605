//! Privileged tests of pod networking on the real kernel (root, iproute2, nftables, busybox,
//! nsenter). Skipped with a message when not root.
//!
//! `harness = false`: libtest runs each test on a thread of its own, while this crate's promise
//! is that a single-threaded caller stays single-threaded; so tests run one by one on the main
//! thread, and the runner checks `Threads: 1` after each. Each test uses its own bridge
//! (`pt<pid>x<n>`), subnet (`10.231.<k>.0/24`), nft table and tempdir root; after each test the
//! runner asserts nothing is left (links, mounts, state files, nft tables), then force-cleans.
//! The fd count after each test leaves out the one `NETLINK_NETFILTER` socket the crate keeps
//! per process (see `netns/src/nft/sock.rs`); a second one counts as a leak.
//!
//! Traffic goes only to 127.0.0.0/8 and to pod addresses the tests created.
//!
//! Run one test: `cargo test -p podrt-netns --test pod_net -- NAME_SUBSTRING`.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, TcpStream};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use podrt_netns::{
    list_leases, netns_path, setup, teardown, veth_name, Error, NetConfig, PodNet, PortMapping,
    Protocol,
};
use serde::{Deserialize, Serialize};

const CHILD_ENV: &str = "PODRT_NETNS_TEST_CHILD";
const UDP_ECHO_ENV: &str = "PODRT_NETNS_TEST_UDP_ECHO";

/// A UDP echo server on 0.0.0.0:PORT (run inside a pod via nsenter): replies "echo:" + data.
fn udp_echo_main(port: &str) -> ! {
    let sock = std::net::UdpSocket::bind(("0.0.0.0", port.parse::<u16>().unwrap())).unwrap();
    let mut buf = [0u8; 512];
    loop {
        let (n, from) = sock.recv_from(&mut buf).unwrap();
        let mut reply = b"echo:".to_vec();
        reply.extend_from_slice(&buf[..n]);
        let _ = sock.send_to(&reply, from);
    }
}

/// What a child process (this binary, re-executed) should do.
#[derive(Serialize, Deserialize)]
struct ChildReq {
    cfg: NetConfig,
    pod: String,
    ports: Vec<PortMapping>,
    etc_dir: PathBuf,
    /// Wait until this file exists before starting (to line up concurrent children).
    go: Option<PathBuf>,
    /// 0: set up and exit (leaving the pod). N: set up and tear down N times.
    cycles: u32,
}

fn child_main(req: &str) -> ! {
    let req: ChildReq = serde_json::from_str(req).expect("child request");
    if let Some(go) = &req.go {
        while !go.exists() {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    for i in 0..req.cycles {
        let net = setup(&req.cfg, &req.pod, &req.pod, &req.ports, &req.etc_dir)
            .unwrap_or_else(|e| panic!("cycle {i}: setup: {}", chain(&e)));
        // Up to 3 single pings: under concurrent setup/teardown cycles a first echo request was
        // seen lost once (CI, 2026-11-23; see the issue note). A reply proves reachability.
        let ip = net.ip.to_string();
        let mut reply = sh(&["busybox", "ping", "-c", "1", "-W", "2", &ip]);
        for _ in 0..2 {
            if reply.0 {
                break;
            }
            reply = sh(&["busybox", "ping", "-c", "1", "-W", "2", &ip]);
        }
        let (ok, out) = reply;
        assert!(ok, "cycle {i}: ping {}: {out}", net.ip);
        teardown(&req.cfg, &req.pod)
            .unwrap_or_else(|e| panic!("cycle {i}: teardown: {}", chain(&e)));
        assert_eq!(threads(), 1, "threads after a cycle in the child");
    }
    if req.cycles > 0 {
        std::process::exit(0);
    }
    match setup(&req.cfg, &req.pod, &req.pod, &req.ports, &req.etc_dir) {
        Ok(net) => {
            assert_eq!(threads(), 1, "threads after setup in the child");
            println!("{}", serde_json::to_string(&net).unwrap());
            std::process::exit(0)
        }
        Err(e) => {
            eprintln!("setup failed: {}", chain(&e));
            std::process::exit(3)
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Test context: unique names, children, cleanup.

struct Ctx {
    cfg: NetConfig,
    tmp: tempfile::TempDir,
    pods: Vec<String>,
    children: Vec<Child>,
}

impl Ctx {
    fn new(idx: u32) -> Ctx {
        let pid = std::process::id();
        let tmp = tempfile::Builder::new()
            .prefix("podrt-netns-test")
            .tempdir()
            .expect("tempdir");
        let third = u8::try_from((pid % 25) * 10 + idx % 10).expect("< 250");
        let cfg = NetConfig {
            root: tmp.path().join("root"),
            bridge: format!("pt{pid}x{idx}"),
            subnet: format!("10.231.{third}.0/24").parse().unwrap(),
            dns: vec![Ipv4Addr::new(192, 0, 2, 53)],
            nft_table: format!("podrt_t{pid}_{idx}"),
        };
        assert!(cfg.bridge.len() <= 15);
        Ctx {
            cfg,
            tmp,
            pods: Vec::new(),
            children: Vec::new(),
        }
    }

    fn pod(&mut self, name: &str) -> String {
        self.pods.push(name.to_string());
        name.to_string()
    }

    fn etc(&self, pod: &str) -> PathBuf {
        self.tmp.path().join("etc").join(pod)
    }

    fn setup(&mut self, pod: &str, ports: &[PortMapping]) -> Result<PodNet, Error> {
        if !self.pods.iter().any(|p| p == pod) {
            self.pods.push(pod.to_string());
        }
        setup(&self.cfg, pod, pod, ports, &self.etc(pod))
    }

    /// Start `cmd` inside the pod's netns; killed (by PID) at the end of the test.
    fn spawn_in(&mut self, netns: &Path, cmd: &[&str]) -> u32 {
        let child = Command::new("nsenter")
            .arg(format!("--net={}", netns.display()))
            .args(cmd)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn nsenter");
        let pid = child.id();
        self.children.push(child);
        pid
    }

    /// A busybox httpd on pod:80 serving `text` as /index.html; waits until it answers.
    fn httpd(&mut self, net: &PodNet, text: &str) {
        let dir = self.tmp.path().join(format!("www-{}", net.name));
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("index.html"), text).unwrap();
        let dir = dir.to_str().unwrap().to_string();
        self.spawn_in(
            &net.netns_path,
            &["busybox", "httpd", "-f", "-p", "80", "-h", &dir],
        );
        let addr = SocketAddr::from((net.ip, 80));
        let deadline = Instant::now() + Duration::from_secs(5);
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            assert!(
                Instant::now() < deadline,
                "httpd in {} never answered",
                net.name
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn child_cmd(&self, pod: &str, ports: &[PortMapping], go: Option<&Path>) -> Command {
        let req = ChildReq {
            cfg: self.cfg.clone(),
            pod: pod.to_string(),
            ports: ports.to_vec(),
            etc_dir: self.etc(pod),
            go: go.map(Path::to_path_buf),
            cycles: 0,
        };
        let mut cmd = Command::new(std::env::current_exe().unwrap());
        cmd.env(CHILD_ENV, serde_json::to_string(&req).unwrap())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }

    fn kill_children(&mut self) {
        for mut c in self.children.drain(..) {
            let _ = c.kill(); // SIGKILL to this child's PID only
            let _ = c.wait();
        }
    }

    /// Everything of this test still visible on the host.
    fn leftovers(&self) -> Vec<String> {
        let mut out = Vec::new();
        let links = sh(&["ip", "-o", "link"]).1;
        let mut names = vec![self.cfg.bridge.clone()];
        names.extend(self.pods.iter().map(|p| veth_name(&self.cfg, p)));
        for n in &names {
            if links.contains(&format!(": {n}:")) || links.contains(&format!(": {n}@")) {
                out.push(format!("link {n}"));
            }
        }
        let root = self.cfg.root.to_str().unwrap();
        for line in fs::read_to_string("/proc/self/mountinfo").unwrap().lines() {
            if line.contains(root) {
                out.push(format!("mount {line}"));
            }
        }
        for f in walk(&self.cfg.root) {
            if f != self.cfg.root.join("net.lock") {
                out.push(format!("file {}", f.display()));
            }
        }
        let tables = sh(&["nft", "list", "tables"]).1;
        for t in [self.cfg.nft_table.clone(), oracle_table(&self.cfg)] {
            if tables.lines().any(|l| l.trim() == format!("table ip {t}")) {
                out.push(format!("nft table {t}"));
            }
        }
        out
    }

    /// Best-effort removal of anything left, by crate API first, then by hand.
    fn force_clean(&mut self) {
        self.kill_children();
        for p in self.pods.clone() {
            let _ = teardown(&self.cfg, &p);
        }
        for p in &self.pods {
            let _ =
                nix::mount::umount2(&netns_path(&self.cfg, p), nix::mount::MntFlags::MNT_DETACH);
            let _ = sh(&["ip", "link", "del", &veth_name(&self.cfg, p)]);
        }
        let _ = nix::mount::umount2(
            &self.cfg.root.join("netns"),
            nix::mount::MntFlags::MNT_DETACH,
        );
        let _ = sh(&["ip", "link", "del", &self.cfg.bridge]);
        let _ = sh(&["nft", "delete", "table", "ip", &self.cfg.nft_table]);
        let _ = sh(&["nft", "delete", "table", "ip", &oracle_table(&self.cfg)]);
    }
}

impl Drop for Ctx {
    fn drop(&mut self) {
        self.force_clean();
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers.

fn sh(args: &[&str]) -> (bool, String) {
    let out = Command::new(args[0])
        .args(&args[1..])
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("run {args:?}: {e}"));
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

fn in_pod(net: &PodNet, args: &[&str]) -> (bool, String) {
    let ns = format!("--net={}", net.netns_path.display());
    let mut all = vec!["nsenter", ns.as_str()];
    all.extend_from_slice(args);
    sh(&all)
}

fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        s.push_str(&format!(": {c}"));
        src = c.source();
    }
    s
}

fn threads() -> usize {
    fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// Open fds, leaving out one `NETLINK_NETFILTER` socket: the crate keeps one per process on
/// purpose (closing it waits out an RCU grace period). Any further one is counted.
fn open_fds() -> usize {
    // /proc/net/netlink: sk Eth Pid Groups Rmem Wmem Dump Locks Drops Inode; Eth 12 is
    // NETLINK_NETFILTER.
    let netfilter: Vec<String> = fs::read_to_string("/proc/net/netlink")
        .unwrap()
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.get(1) == Some(&"12")).then(|| format!("socket:[{}]", f.last().unwrap()))
        })
        .collect();
    let mut kept = false;
    let mut n = 0;
    for e in fs::read_dir("/proc/self/fd").unwrap().flatten() {
        let target = fs::read_link(e.path()).unwrap_or_default();
        let is_netfilter = target
            .to_str()
            .is_some_and(|t| netfilter.iter().any(|s| s == t));
        if is_netfilter && !kept {
            kept = true;
        } else {
            n += 1;
        }
    }
    n
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() && !p.is_symlink() {
                out.extend(walk(&p));
                out.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn http_get(addr: SocketAddr) -> io::Result<String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(3)))?;
    s.write_all(b"GET /index.html HTTP/1.0\r\nHost: test\r\n\r\n")?;
    let mut body = String::new();
    s.read_to_string(&mut body)?;
    Ok(body)
}

fn tcp(port: u16) -> PortMapping {
    PortMapping {
        host_port: port,
        container_port: 80,
        protocol: Protocol::Tcp,
        host_ip: Some(Ipv4Addr::LOCALHOST),
    }
}

fn wait_child(c: Child) -> (ExitStatus, String, String) {
    let out = c.wait_with_output().unwrap();
    (
        out.status,
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn link_exists(name: &str) -> bool {
    sh(&["ip", "link", "show", "dev", name]).0
}

// ---------------------------------------------------------------------------------------------
// nftables oracle: what `setup` puts in the table, as the nft(8) text it stands for.

/// The table the oracle tests build with nft(8), next to the crate's.
fn oracle_table(cfg: &NetConfig) -> String {
    format!("{}_nft", cfg.nft_table)
}

/// The text ruleset that does what `setup` does for a pod's hostPorts (podrt fed this to
/// `nft -f -` before it spoke netlink): the table and chains declared (added if missing), the
/// guard chain flushed and refilled, one DNAT rule per mapping in prerouting and output, one
/// masquerade rule, all tagged with the pod name.
fn pod_ruleset(table: &str, pod: &str, pod_ip: Ipv4Addr, ports: &[PortMapping]) -> String {
    let mut s = format!(
        "table ip {table} {{\n\
         \tchain prerouting {{ type nat hook prerouting priority dstnat; policy accept; }}\n\
         \tchain output {{ type nat hook output priority -100; policy accept; }}\n\
         \tchain postrouting {{ type nat hook postrouting priority srcnat; policy accept; }}\n\
         \tchain guard {{ type filter hook prerouting priority -150; policy accept; }}\n\
         }}\n\
         flush chain ip {table} guard\n\
         add rule ip {table} guard iifname != \"lo\" ip daddr 127.0.0.0/8 drop\n"
    );
    for m in ports {
        let daddr = match m.host_ip {
            Some(ip) => format!("ip daddr {ip}"),
            None => "fib daddr type local".to_string(),
        };
        let rule = format!(
            "{daddr} {proto} dport {hp} dnat to {pod_ip}:{cp} comment \"{pod}\"",
            proto = m.protocol,
            hp = m.host_port,
            cp = m.container_port,
        );
        s.push_str(&format!("add rule ip {table} prerouting {rule}\n"));
        s.push_str(&format!("add rule ip {table} output {rule}\n"));
    }
    if !ports.is_empty() {
        s.push_str(&format!(
            "add rule ip {table} postrouting ip saddr 127.0.0.0/8 ip daddr {pod_ip} masquerade \
             comment \"{pod}\"\n"
        ));
    }
    s
}

/// `nft -f -` with `text`.
fn nft_f(text: &str) {
    let mut child = Command::new("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn nft");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "nft -f failed: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `nft list table ip TABLE` and the kernel's expressions (`--debug=netlink`), with the table
/// named `T` and the handles in the expression dump's rule headers dropped.
fn listing(table: &str) -> (String, String) {
    let (ok, text) = sh(&["nft", "list", "table", "ip", table]);
    assert!(ok, "nft list table ip {table}: {text}");
    let (ok, exprs) = sh(&["nft", "--debug=netlink", "list", "table", "ip", table]);
    assert!(ok, "nft --debug=netlink list table ip {table}: {exprs}");
    let exprs = exprs
        .lines()
        .filter(|l| l.starts_with("ip ") || l.starts_with("  ["))
        .map(|l| match l.strip_prefix(&format!("ip {table} ")) {
            // "ip TABLE CHAIN HANDLE"
            Some(rest) => format!("ip T {}", rest.split(' ').next().unwrap()),
            None => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n");
    (
        text.replace(&format!("table ip {table} "), "table ip T "),
        exprs,
    )
}

/// The crate's table lists exactly like the one nft built from `text` (in table `oracle`).
fn assert_same_as_nft(table: &str, oracle: &str, text: &str) {
    let _ = sh(&["nft", "delete", "table", "ip", oracle]);
    nft_f(text);
    let (ours, our_exprs) = listing(table);
    let (theirs, their_exprs) = listing(oracle);
    assert_eq!(ours, theirs, "nft list differs; ruleset:\n{text}");
    assert_eq!(
        our_exprs, their_exprs,
        "expressions differ; ruleset:\n{text}"
    );
    let (ok, out) = sh(&["nft", "delete", "table", "ip", oracle]);
    assert!(ok, "{out}");
}

/// (chain, comment) -> number of rules, from `nft -j -a list table`, which must also show a
/// handle for each rule.
fn rules_by_comment(table: &str) -> BTreeMap<(String, Option<String>), usize> {
    let (ok, out) = sh(&["nft", "-j", "-a", "list", "table", "ip", table]);
    assert!(ok, "{out}");
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    let mut counts = BTreeMap::new();
    for item in json["nftables"].as_array().unwrap() {
        if let Some(r) = item.get("rule") {
            assert!(r["handle"].as_u64().is_some(), "{r}");
            let key = (
                r["chain"].as_str().unwrap().to_string(),
                r["comment"].as_str().map(str::to_string),
            );
            *counts.entry(key).or_insert(0) += 1;
        }
    }
    counts
}

// ---------------------------------------------------------------------------------------------
// Tests.

/// Two pods set up at the same moment by two processes: distinct addresses, both reachable
/// from the host (ping, TCP), both reach the gateway, each sees eth0, lo UP and a default route.
fn two_pods_concurrently(ctx: &mut Ctx) {
    let a = ctx.pod("alpha");
    let b = ctx.pod("beta");
    let go = ctx.tmp.path().join("go");
    let ca = ctx.child_cmd(&a, &[], Some(&go)).spawn().unwrap();
    let cb = ctx.child_cmd(&b, &[], Some(&go)).spawn().unwrap();
    fs::write(&go, b"").unwrap();
    let mut nets = Vec::new();
    for c in [ca, cb] {
        let (status, out, err) = wait_child(c);
        assert!(status.success(), "child setup failed: {err}");
        nets.push(serde_json::from_str::<PodNet>(out.trim()).unwrap());
    }
    assert_ne!(nets[0].ip, nets[1].ip, "distinct IPs");
    let gw = ctx.cfg.gateway();
    let leases = list_leases(&ctx.cfg).unwrap();
    assert_eq!(leases.len(), 2);
    for net in &nets {
        assert!(leases.contains(&(net.ip, net.name.clone())));
        assert_eq!(net.gateway, gw);
        assert_eq!(net.prefix, 24);
        assert_eq!(net.netns_path, netns_path(&ctx.cfg, &net.name));
        assert!(link_exists(&net.host_veth));
        let ip = net.ip.to_string();
        let (ok, out) = sh(&["busybox", "ping", "-c", "1", "-W", "2", &ip]);
        assert!(ok, "host -> {ip} ping: {out}");
        let (ok, out) = in_pod(
            net,
            &["busybox", "ping", "-c", "1", "-W", "2", &gw.to_string()],
        );
        assert!(ok, "{} -> gateway ping: {out}", net.name);
        let (_, out) = in_pod(net, &["ip", "-o", "-4", "addr", "show", "dev", "eth0"]);
        assert!(out.contains(&format!("inet {ip}/24")), "{out}");
        let (_, out) = in_pod(net, &["ip", "-o", "link", "show", "dev", "lo"]);
        assert!(
            out.contains(",UP") || out.contains("<UP"),
            "lo not up: {out}"
        );
        let (_, out) = in_pod(net, &["ip", "route", "show", "default"]);
        assert!(out.contains(&format!("default via {gw} dev eth0")), "{out}");
        ctx.httpd(net, &format!("hello from {}", net.name));
        let body = http_get(SocketAddr::from((net.ip, 80))).unwrap();
        assert!(body.contains(&format!("hello from {}", net.name)), "{body}");
    }
    ctx.kill_children();
    for net in &nets {
        teardown(&ctx.cfg, &net.name).unwrap();
        teardown(&ctx.cfg, &net.name).unwrap(); // idempotent
    }
    assert!(list_leases(&ctx.cfg).unwrap().is_empty());
}

/// Four processes each set up and tear down their pod five times, at the same time: leases,
/// port claims, bridge creation and the last-pod garbage collection race each other.
fn concurrent_setup_teardown_cycles(ctx: &mut Ctx) {
    let go = ctx.tmp.path().join("go");
    let mut children = Vec::new();
    for i in 0..4 {
        let pod = ctx.pod(&format!("cyc{i}"));
        let ports = if i % 2 == 0 {
            vec![tcp(free_port())]
        } else {
            vec![]
        };
        let mut cmd = ctx.child_cmd(&pod, &ports, Some(&go));
        let mut req: ChildReq = serde_json::from_str(
            cmd.get_envs()
                .find(|(k, _)| *k == CHILD_ENV)
                .unwrap()
                .1
                .unwrap()
                .to_str()
                .unwrap(),
        )
        .unwrap();
        req.cycles = 5;
        cmd.env(CHILD_ENV, serde_json::to_string(&req).unwrap());
        children.push(cmd.spawn().unwrap());
    }
    fs::write(&go, b"").unwrap();
    for c in children {
        let (status, _, err) = wait_child(c);
        assert!(status.success(), "child failed: {err}");
    }
    assert!(list_leases(&ctx.cfg).unwrap().is_empty());
}

/// hostPort: 127.0.0.1:P (host_ip 127.0.0.1) and *:Q (any local address) reach pod:80 from the
/// host's loopback; after teardown neither answers.
fn host_port_from_loopback(ctx: &mut Ctx) {
    let (p, q) = (free_port(), free_port());
    let mut any = tcp(q);
    any.host_ip = None;
    let u = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let udp = PortMapping {
        host_port: u,
        container_port: 53,
        protocol: Protocol::Udp,
        host_ip: None,
    };
    let pod = ctx.pod("web");
    let net = ctx.setup(&pod, &[tcp(p), any, udp]).unwrap();
    assert_eq!(net.ports.len(), 3);
    let localnet = format!("/proc/sys/net/ipv4/conf/{}/route_localnet", ctx.cfg.bridge);
    assert_eq!(fs::read_to_string(&localnet).unwrap().trim(), "1");
    ctx.httpd(&net, "podrt hostPort works");
    for port in [p, q] {
        let body = http_get(SocketAddr::from(([127, 0, 0, 1], port)))
            .unwrap_or_else(|e| panic!("GET 127.0.0.1:{port}: {e}"));
        assert!(body.contains("podrt hostPort works"), "{body}");
    }
    // UDP: an echo server in the pod on :53, reached at 127.0.0.1:U.
    let exe = std::env::current_exe().unwrap();
    let child = Command::new("nsenter")
        .arg(format!("--net={}", net.netns_path.display()))
        .arg(&exe)
        .env(UDP_ECHO_ENV, "53")
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    ctx.children.push(child);
    let client = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    client
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut buf = [0u8; 64];
    let mut got = None;
    for _ in 0..25 {
        client.send_to(b"ping", ("127.0.0.1", u)).unwrap();
        if let Ok(n) = client.recv(&mut buf) {
            got = Some(buf[..n].to_vec());
            break;
        }
    }
    assert_eq!(
        got.as_deref(),
        Some(&b"echo:ping"[..]),
        "udp via 127.0.0.1:{u}"
    );
    // Both ports are now taken for another pod.
    let err = ctx.setup("other", &[tcp(p)]).unwrap_err();
    assert!(
        matches!(err, Error::PortInUse { port, .. } if port == p),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        format!("host port {p}/tcp is already in use by pod \"web\"")
    );
    teardown(&ctx.cfg, &pod).unwrap();
    for port in [p, q] {
        let res = http_get(SocketAddr::from(([127, 0, 0, 1], port)));
        assert!(
            res.is_err(),
            "port {port} still answers after teardown: {res:?}"
        );
    }
    ctx.kill_children();
}

/// A host socket on the port: clear error, and nothing of the failed setup is left.
fn port_in_use_by_host_leaves_nothing(ctx: &mut Ctx) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let pod = ctx.pod("blocked");
    let err = ctx.setup(&pod, &[tcp(port)]).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("host port {port}/tcp is already in use by a host socket")
    );
    assert!(ctx.leftovers().is_empty(), "{:?}", ctx.leftovers());
    drop(listener);
}

/// Setting up an existing pod fails without harming it; the same name works after teardown.
fn pod_exists_and_etc_files(ctx: &mut Ctx) {
    let pod = ctx.pod("dup");
    let net = ctx.setup(&pod, &[]).unwrap();
    let err = ctx.setup(&pod, &[]).unwrap_err();
    assert!(matches!(err, Error::PodExists { .. }), "{err}");
    assert!(link_exists(&net.host_veth), "existing pod harmed");
    let etc = ctx.etc(&pod);
    assert_eq!(
        fs::read_to_string(etc.join("hosts")).unwrap(),
        format!(
            "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n{}\tdup\n",
            net.ip
        )
    );
    assert_eq!(fs::read_to_string(etc.join("hostname")).unwrap(), "dup\n");
    assert_eq!(
        fs::read_to_string(etc.join("resolv.conf")).unwrap(),
        "nameserver 192.0.2.53\n"
    );
    // Dropping the PodNet is not a teardown; teardown by name is.
    drop(net);
    teardown(&ctx.cfg, &pod).unwrap();
    let again = ctx.setup(&pod, &[]).unwrap();
    assert_eq!(again.ip.octets()[3], 2, "the freed address is reused");
    teardown(&ctx.cfg, &pod).unwrap();
}

/// kill -9 of the process at each step of setup; teardown by name then leaves nothing, and the
/// same pod can be set up again.
fn teardown_after_crash_at_each_step(ctx: &mut Ctx) {
    let port = free_port();
    for step in [
        "pinned",
        "leased",
        "claimed",
        "bridge",
        "veth",
        "configured",
        "nft",
    ] {
        let pod = ctx.pod(&format!("crash-{step}"));
        let mut cmd = ctx.child_cmd(&pod, &[tcp(port)], None);
        cmd.env("PODRT_NETNS_CRASH_AT", step);
        let (status, _, err) = wait_child(cmd.spawn().unwrap());
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(
            status.signal(),
            Some(9),
            "step {step}: child was not killed: {err}"
        );
        // Not torn down yet: setting the pod up again is refused.
        let res = ctx.setup(&pod, &[tcp(port)]);
        assert!(
            matches!(res, Err(Error::PodExists { .. })),
            "step {step}: {res:?}"
        );
        teardown(&ctx.cfg, &pod).unwrap_or_else(|e| panic!("step {step}: {e}"));
        assert!(
            ctx.leftovers().is_empty(),
            "step {step}: {:?}",
            ctx.leftovers()
        );
        teardown(&ctx.cfg, &pod).unwrap();
    }
    // A crashed pod's port claim and lease do not block a new pod once torn down.
    let net = ctx.setup("after-crash", &[tcp(port)]).unwrap();
    assert_eq!(net.ip.octets()[3], 2);
    teardown(&ctx.cfg, "after-crash").unwrap();
}

/// A second pod mapping the same host port: clear error naming the pod; the failed pod leaves
/// nothing while the first keeps working.
fn port_in_use_by_pod(ctx: &mut Ctx) {
    let port = free_port();
    let first = ctx.setup("first", &[tcp(port)]).unwrap();
    ctx.httpd(&first, "first pod");
    let err = ctx.setup("second", &[tcp(port)]).unwrap_err();
    assert!(matches!(err, Error::PortInUse { .. }), "{err}");
    assert!(err.to_string().contains("pod \"first\""), "{err}");
    assert!(!link_exists(&veth_name(&ctx.cfg, "second")));
    assert!(!netns_path(&ctx.cfg, "second").exists());
    assert_eq!(
        list_leases(&ctx.cfg).unwrap(),
        vec![(first.ip, "first".to_string())]
    );
    let body = http_get(SocketAddr::from(([127, 0, 0, 1], port))).unwrap();
    assert!(body.contains("first pod"), "{body}");
    ctx.kill_children();
    teardown(&ctx.cfg, "first").unwrap();
}

/// route_localnet=1 on the bridge must not let a pod reach the host's 127.0.0.0/8 services:
/// the guard chain drops them (and without it they would get through, which proves the test).
fn pods_cannot_reach_host_loopback(ctx: &mut Ctx) {
    let net = ctx.setup("sneaky", &[tcp(free_port())]).unwrap();
    let target = Ipv4Addr::new(127, 0, 0, 53);
    let listener = match TcpListener::bind(SocketAddrV4::new(target, 0)) {
        Ok(l) => l,
        Err(e) => panic!("bind 127.0.0.53: {e}"),
    };
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let gw = net.gateway.to_string();
    // Inside the pod: route 127.0.0.53 via the gateway instead of lo.
    for cmd in [
        vec![
            "ip",
            "route",
            "del",
            "local",
            "127.0.0.0/8",
            "dev",
            "lo",
            "table",
            "local",
        ],
        vec![
            "ip",
            "route",
            "add",
            "127.0.0.53/32",
            "via",
            &gw,
            "dev",
            "eth0",
        ],
        vec![
            "sh",
            "-c",
            "echo 1 > /proc/sys/net/ipv4/conf/eth0/route_localnet",
        ],
    ] {
        let (ok, out) = in_pod(&net, &cmd);
        assert!(ok, "{cmd:?}: {out}");
    }
    let attempt = || {
        // busybox nc ignores -w while connecting: bound it with timeout(1).
        let _ = in_pod(
            &net,
            &["timeout", "1", "busybox", "nc", "127.0.0.53", &port],
        );
        listener.accept().is_ok()
    };
    assert!(
        !attempt(),
        "pod reached the host's 127.0.0.53 despite the guard"
    );
    let (ok, out) = sh(&["nft", "flush", "chain", "ip", &ctx.cfg.nft_table, "guard"]);
    assert!(ok, "{out}");
    assert!(
        attempt(),
        "without the guard the pod should get through (test is moot)"
    );
    teardown(&ctx.cfg, "sneaky").unwrap();
}

/// A bridge the admin made is used and left in place (with route_localnet restored).
fn preexisting_bridge_is_left_alone(ctx: &mut Ctx) {
    let br = ctx.cfg.bridge.clone();
    let (ok, out) = sh(&["ip", "link", "add", &br, "type", "bridge"]);
    assert!(ok, "{out}");
    let localnet = format!("/proc/sys/net/ipv4/conf/{br}/route_localnet");
    assert_eq!(fs::read_to_string(&localnet).unwrap().trim(), "0");
    let net = ctx.setup("guest", &[tcp(free_port())]).unwrap();
    assert_eq!(fs::read_to_string(&localnet).unwrap().trim(), "1");
    // Up to 3 echo requests: under concurrent setup/teardown cycles a first packet was seen lost
    // once (CI, 2026-11-23); see the issue note. Any reply proves the pod is reachable.
    let (ok, out) = sh(&["busybox", "ping", "-c", "3", "-w", "6", &net.ip.to_string()]);
    assert!(ok, "{out}");
    teardown(&ctx.cfg, "guest").unwrap();
    assert!(link_exists(&br), "an admin's bridge was deleted");
    assert_eq!(fs::read_to_string(&localnet).unwrap().trim(), "0");
    let (ok, out) = sh(&["ip", "link", "del", &br]);
    assert!(ok, "{out}");
}

/// The oracle for the netlink encoding: the table `setup` builds must list exactly like one
/// `nft -f` builds from the text the rules stand for (`nft list` and the kernel's expression
/// dump), before and after one pod's teardown; `nft -j -a` shows each rule's pod comment.
fn nft_table_matches_text_ruleset(ctx: &mut Ctx) {
    let table = ctx.cfg.nft_table.clone();
    let oracle = oracle_table(&ctx.cfg);
    let mut any = tcp(free_port());
    any.host_ip = None;
    let udp = PortMapping {
        host_port: free_port(),
        container_port: 53,
        protocol: Protocol::Udp,
        host_ip: None,
    };
    let web_ports = vec![any, tcp(free_port()), udp];
    let db_ports = vec![PortMapping {
        host_port: free_port(),
        container_port: 5432,
        protocol: Protocol::Tcp,
        host_ip: Some(Ipv4Addr::new(127, 0, 0, 2)),
    }];
    let web = ctx.setup("web", &web_ports).unwrap();
    let db = ctx.setup("db", &db_ports).unwrap();
    let text = pod_ruleset(&oracle, "web", web.ip, &web_ports)
        + &pod_ruleset(&oracle, "db", db.ip, &db_ports);
    assert_same_as_nft(&table, &oracle, &text);
    let (listed, _) = listing(&table);
    assert_eq!(listed.matches("dnat to").count(), 8, "{listed}");
    assert_eq!(listed.matches("comment \"web\"").count(), 7, "{listed}");
    let key = |chain: &str, c: Option<&str>| (chain.to_string(), c.map(str::to_string));
    let want = |pods: &[(&str, usize)]| {
        let mut m = BTreeMap::from([(key("guard", None), 1)]);
        for (pod, n) in pods {
            m.insert(key("prerouting", Some(pod)), *n);
            m.insert(key("output", Some(pod)), *n);
            m.insert(key("postrouting", Some(pod)), 1);
        }
        m
    };
    assert_eq!(rules_by_comment(&table), want(&[("web", 3), ("db", 1)]));

    teardown(&ctx.cfg, "web").unwrap();
    assert_eq!(rules_by_comment(&table), want(&[("db", 1)]));
    assert_same_as_nft(
        &table,
        &oracle,
        &pod_ruleset(&oracle, "db", db.ip, &db_ports),
    );
    teardown(&ctx.cfg, "db").unwrap();
}

/// A transaction the kernel refuses (an admin's table has a `prerouting` chain of another
/// type): the error names the pod, the refused part and the errno, and nothing of the batch is
/// applied. The admin's commented rule keeps teardown from deleting the table.
fn nft_refusal_names_the_change_and_applies_nothing(ctx: &mut Ctx) {
    let table = ctx.cfg.nft_table.clone();
    nft_f(&format!(
        "table ip {table} {{\n\
         \tchain prerouting {{\n\
         \t\ttype filter hook prerouting priority 0; policy accept;\n\
         \t\tip daddr 192.0.2.1 accept comment \"admin\"\n\
         \t}}\n\
         }}\n"
    ));
    let before = sh(&["nft", "list", "table", "ip", &table]).1;
    let err = ctx.setup("refused", &[tcp(free_port())]).unwrap_err();
    let Error::Nftables { source, .. } = &err else {
        panic!("not an nftables error: {}", chain(&err));
    };
    let errno = source.raw_os_error().expect("the kernel's errno");
    println!("    refused: {}", chain(&err));
    assert_eq!(
        chain(&err),
        format!(
            "add rules of pod refused: chain prerouting: {}",
            io::Error::from_raw_os_error(errno)
        )
    );
    assert_eq!(
        sh(&["nft", "list", "table", "ip", &table]).1,
        before,
        "a refused batch changed the table"
    );
    let (ok, out) = sh(&["nft", "delete", "table", "ip", &table]);
    assert!(ok, "{out}");
    // The table marker is removed by the next teardown that finds no table.
    teardown(&ctx.cfg, "refused").unwrap();
}

/// 300 mappings in one pod: some 600 rules in one batch, past the default socket buffers, are
/// added and removed in one go each.
fn nft_big_batch(ctx: &mut Ctx) {
    let mut ports = Vec::new();
    let mut seen = std::collections::HashSet::new();
    while ports.len() < 300 {
        let p = free_port();
        if seen.insert(p) {
            let mut m = tcp(p);
            m.host_ip = None;
            ports.push(m);
        }
    }
    ctx.setup("big", &ports).unwrap();
    let rules = rules_by_comment(&ctx.cfg.nft_table);
    let big = |chain: &str| rules[&(chain.to_string(), Some("big".to_string()))];
    assert_eq!(
        (big("prerouting"), big("output"), big("postrouting")),
        (300, 300, 1)
    );
    teardown(&ctx.cfg, "big").unwrap();
}

/// Setup and teardown cost, median of 5, without and with a hostPort.
fn timing(ctx: &mut Ctx) {
    for with_port in [false, true] {
        let mut up = Vec::new();
        let mut down = Vec::new();
        for i in 0..5 {
            let pod = ctx.pod(&format!("t{i}-{with_port}"));
            let ports = if with_port {
                vec![tcp(free_port())]
            } else {
                vec![]
            };
            let t = Instant::now();
            ctx.setup(&pod, &ports).unwrap();
            up.push(t.elapsed());
            let t = Instant::now();
            teardown(&ctx.cfg, &pod).unwrap();
            down.push(t.elapsed());
        }
        up.sort();
        down.sort();
        println!(
            "    timing (hostPort: {with_port}): setup median {:?}, teardown median {:?} \
             (first pod: bridge created; last: bridge removed)",
            up[2], down[2]
        );
    }
    // Steady state: a second pod keeps the bridge alive.
    ctx.setup("keeper", &[]).unwrap();
    let mut up = Vec::new();
    let mut down = Vec::new();
    for i in 0..5 {
        let pod = ctx.pod(&format!("s{i}"));
        let t = Instant::now();
        ctx.setup(&pod, &[]).unwrap();
        up.push(t.elapsed());
        let t = Instant::now();
        teardown(&ctx.cfg, &pod).unwrap();
        down.push(t.elapsed());
    }
    up.sort();
    down.sort();
    println!(
        "    timing (bridge already up): setup median {:?}, teardown median {:?}",
        up[2], down[2]
    );
    teardown(&ctx.cfg, "keeper").unwrap();

    // The nftables step alone, with the table in place (a second pod keeps it): the
    // `net:hostports` phase of setup (route_localnet check, table marker, nft add), median of
    // 21, and the teardown of a pod with a hostPort (nft delete included).
    ctx.setup("port-keeper", &[tcp(free_port())]).unwrap();
    let mut add = Vec::new();
    let mut down = Vec::new();
    for i in 0..21 {
        let pod = ctx.pod(&format!("h{i}"));
        let net = ctx.setup(&pod, &[tcp(free_port())]).unwrap();
        let at = |name: &str| net.phases.iter().find(|(n, _)| *n == name).unwrap().1;
        add.push(at("net:hostports") - at("net:addresses"));
        let t = Instant::now();
        teardown(&ctx.cfg, &pod).unwrap();
        down.push(t.elapsed());
    }
    add.sort();
    down.sort();
    println!(
        "    timing (hostPort, table already up): nft phase median {:?} (max {:?}), \
         teardown median {:?}",
        add[10], add[20], down[10]
    );
    teardown(&ctx.cfg, "port-keeper").unwrap();
}

type Test = fn(&mut Ctx);

const TESTS: &[(&str, Test)] = &[
    ("two_pods_concurrently", two_pods_concurrently),
    (
        "concurrent_setup_teardown_cycles",
        concurrent_setup_teardown_cycles,
    ),
    ("host_port_from_loopback", host_port_from_loopback),
    (
        "port_in_use_by_host_leaves_nothing",
        port_in_use_by_host_leaves_nothing,
    ),
    ("port_in_use_by_pod", port_in_use_by_pod),
    ("pod_exists_and_etc_files", pod_exists_and_etc_files),
    (
        "teardown_after_crash_at_each_step",
        teardown_after_crash_at_each_step,
    ),
    (
        "pods_cannot_reach_host_loopback",
        pods_cannot_reach_host_loopback,
    ),
    (
        "preexisting_bridge_is_left_alone",
        preexisting_bridge_is_left_alone,
    ),
    (
        "nft_table_matches_text_ruleset",
        nft_table_matches_text_ruleset,
    ),
    (
        "nft_refusal_names_the_change_and_applies_nothing",
        nft_refusal_names_the_change_and_applies_nothing,
    ),
    ("nft_big_batch", nft_big_batch),
    ("timing", timing),
];

fn main() {
    if let Ok(req) = std::env::var(CHILD_ENV) {
        child_main(&req);
    }
    if let Ok(port) = std::env::var(UDP_ECHO_ENV) {
        udp_echo_main(&port);
    }
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    if !nix::unistd::geteuid().is_root() {
        println!("pod_net: skipped (needs root)");
        return;
    }
    let mut failed = Vec::new();
    let mut ran = 0;
    for (idx, (name, test)) in (0u32..).zip(TESTS) {
        if !filter.is_empty() && !filter.iter().any(|f| name.contains(f.as_str())) {
            continue;
        }
        ran += 1;
        println!("test {name} ...");
        let started = Instant::now();
        let fds_before = open_fds();
        let mut ctx = Ctx::new(idx);
        let mut result = catch_unwind(AssertUnwindSafe(|| test(&mut ctx))).map_err(|e| {
            e.downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default()
        });
        ctx.kill_children();
        if result.is_ok() {
            let left = ctx.leftovers();
            if !left.is_empty() {
                result = Err(format!("left behind: {left:#?}"));
            } else if threads() != 1 {
                result = Err(format!("{} threads after the test", threads()));
            }
        }
        drop(ctx);
        if result.is_ok() && open_fds() != fds_before {
            result = Err(format!(
                "fd leak: {fds_before} open before, {} after",
                open_fds()
            ));
        }
        match result {
            Ok(()) => println!("test {name} ... ok ({:?})", started.elapsed()),
            Err(msg) => {
                println!("test {name} ... FAILED: {msg}");
                failed.push(*name);
            }
        }
    }
    println!(
        "\npod_net: {} passed, {} failed{}",
        ran - failed.len(),
        failed.len(),
        if failed.is_empty() {
            String::new()
        } else {
            format!(": {failed:?}")
        }
    );
    if !failed.is_empty() {
        std::process::exit(1);
    }
}
