//! `--log FILE --log-format text|json`: log lines in the shape containerd's shim and podman
//! read from runc (`{"level":"error","msg":"...","time":"..."}`), written by a small tracing
//! layer. Without `--log`, only warnings and errors go to stderr.

use std::fs::File;
use std::io::Write;
use std::sync::Mutex;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::prelude::*;

/// Where and how to log.
pub struct LogLayer {
    out: Mutex<Box<dyn Write + Send>>,
    json: bool,
    max: Level,
}

impl std::fmt::Debug for LogLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogLayer")
            .field("json", &self.json)
            .finish()
    }
}

#[derive(Default)]
struct Fields {
    msg: String,
    extra: Vec<(String, String)>,
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.msg = format!("{value:?}");
        } else {
            self.extra
                .push((field.name().to_string(), format!("{value:?}")));
        }
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.msg = value.to_string();
        } else {
            self.extra
                .push((field.name().to_string(), value.to_string()));
        }
    }
}

fn level_name(l: &Level) -> &'static str {
    match *l {
        Level::ERROR => "error",
        Level::WARN => "warning",
        Level::INFO => "info",
        Level::DEBUG => "debug",
        Level::TRACE => "trace",
    }
}

impl<S: Subscriber> Layer<S> for LogLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let level = event.metadata().level();
        if *level > self.max {
            return;
        }
        let mut f = Fields::default();
        event.record(&mut f);
        let time = crate::state::now_rfc3339();
        let line = if self.json {
            let mut v = serde_json::json!({"level": level_name(level), "msg": f.msg, "time": time});
            for (k, val) in f.extra {
                v[k] = serde_json::Value::String(val);
            }
            format!("{v}\n")
        } else {
            let extra: String = f.extra.iter().map(|(k, v)| format!(" {k}={v}")).collect();
            format!(
                "time=\"{time}\" level={} msg=\"{}\"{extra}\n",
                level_name(level),
                f.msg
            )
        };
        if let Ok(mut out) = self.out.lock() {
            let _ = out.write_all(line.as_bytes());
        }
    }
}

/// Install the global subscriber. Returns an error message if the log file cannot be opened.
pub fn init(log: Option<&std::path::Path>, json: bool, debug: bool) -> Result<(), String> {
    let (out, max): (Box<dyn Write + Send>, Level) = match log {
        Some(p) => {
            let f = File::options()
                .create(true)
                .append(true)
                .open(p)
                .map_err(|e| format!("open log file {}: {e}", p.display()))?;
            (Box::new(f), if debug { Level::DEBUG } else { Level::INFO })
        }
        None => (
            Box::new(std::io::stderr()),
            if debug { Level::DEBUG } else { Level::WARN },
        ),
    };
    let layer = LogLayer {
        out: Mutex::new(out),
        json,
        max,
    };
    let _ = tracing_subscriber::registry().with(layer).try_init();
    Ok(())
}
