//! `podrt image import|list|rm|inspect|mount|unmount|gc`: the local image store.

use std::io::Write as _;
use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::Format;
use crate::image::{self, ImageError, Store};

#[derive(Debug, Args)]
pub struct ImageArgs {
    /// Image store directory [default: $PODRT_IMAGE_STORE, else /var/lib/podrt/images]
    #[arg(long, global = true)]
    pub image_store: Option<PathBuf>,
    #[command(subcommand)]
    pub command: ImageCommand,
}

#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// Import an image: oci:DIR[:TAG], oci-archive:FILE[:TAG], docker-archive:FILE[:NAME:TAG|@N]
    Import {
        reference: String,
        /// Also name the image NAME (repeatable; a name moves from any other image)
        #[arg(long)]
        name: Vec<String>,
        /// Print only the digest
        #[arg(short, long)]
        quiet: bool,
    },
    /// List the images in the store
    #[command(alias = "ls")]
    List {
        #[arg(short, long, value_enum, default_value_t = Format::Table)]
        format: Format,
        /// Only digests
        #[arg(short, long)]
        quiet: bool,
    },
    /// Remove images (by name or digest) and the layers no image uses any more
    #[command(alias = "remove")]
    Rm {
        #[arg(required = true)]
        images: Vec<String>,
    },
    /// Print an image's record as JSON (importing it first when it is a layout or archive)
    Inspect { reference: String },
    /// Mount an image's rootfs (overlay with a fresh writable layer) under DIR/rootfs
    Mount { reference: String, dir: PathBuf },
    /// Unmount what `image mount` mounted under DIR and remove its writable layer
    Unmount { dir: PathBuf },
    /// Remove unused layers and leftovers of interrupted imports
    Gc,
}

/// Runs an `image` subcommand; the exit code on success.
pub fn run(args: &ImageArgs) -> Result<i32, ImageError> {
    let root = args
        .image_store
        .clone()
        .unwrap_or_else(image::default_store_root);
    if let ImageCommand::Unmount { dir } = &args.command {
        image::unmount_rootfs(dir)?;
        return Ok(0);
    }
    let store = Store::open(&root)?;
    let mut out = std::io::stdout().lock();
    let io = |e: std::io::Error| ImageError::Store {
        path: PathBuf::from("<stdout>"),
        source: e,
    };
    match &args.command {
        ImageCommand::Import {
            reference,
            name,
            quiet,
        } => {
            let (info, stats) = store.import_with_names(reference, name)?;
            if *quiet {
                writeln!(out, "{}", info.digest).map_err(io)?;
            } else {
                let what = if stats.present {
                    "already present".to_string()
                } else {
                    format!(
                        "{} layers unpacked, {} reused",
                        stats.unpacked, stats.reused
                    )
                };
                writeln!(out, "imported {} {} ({what})", info.name, info.digest).map_err(io)?;
                for s in &stats.skipped {
                    eprintln!("podrt: warning: skipped {s}");
                }
            }
        }
        ImageCommand::List { format, quiet } => {
            let images = store.list()?;
            if *quiet {
                for i in &images {
                    writeln!(out, "{}", i.digest).map_err(io)?;
                }
            } else if *format == Format::Json {
                let json = serde_json::to_string_pretty(&images).map_err(|e| io(e.into()))?;
                writeln!(out, "{json}").map_err(io)?;
            } else {
                let mut rows = vec![[
                    "NAME".to_string(),
                    "DIGEST".to_string(),
                    "LAYERS".to_string(),
                    "IMPORTED".to_string(),
                ]];
                for i in &images {
                    let short = i.digest.trim_start_matches("sha256:");
                    let short = &short[..short.len().min(12)];
                    let names = if i.names.is_empty() {
                        vec!["<none>".to_string()]
                    } else {
                        i.names.clone()
                    };
                    for n in names {
                        rows.push([
                            n,
                            short.to_string(),
                            i.layers.len().to_string(),
                            i.imported.clone().unwrap_or_default(),
                        ]);
                    }
                }
                let mut w = [0usize; 4];
                for r in &rows {
                    for (k, c) in r.iter().enumerate() {
                        w[k] = w[k].max(c.len());
                    }
                }
                for r in &rows {
                    let line = format!(
                        "{:<w0$}   {:<w1$}   {:<w2$}   {}",
                        r[0],
                        r[1],
                        r[2],
                        r[3],
                        w0 = w[0],
                        w1 = w[1],
                        w2 = w[2]
                    );
                    writeln!(out, "{}", line.trim_end()).map_err(io)?;
                }
            }
        }
        ImageCommand::Rm { images } => {
            for name in images {
                let gc = store.remove_and_gc(name)?;
                let mut msg = format!("removed {name}");
                if gc.layers_removed > 0 {
                    msg.push_str(&format!(", {} unused layers", gc.layers_removed));
                }
                if gc.layers_in_use > 0 {
                    msg.push_str(&format!(
                        " ({} unused layers kept: still mounted)",
                        gc.layers_in_use
                    ));
                }
                writeln!(out, "{msg}").map_err(io)?;
            }
        }
        ImageCommand::Inspect { reference } => {
            let info = store.resolve(reference)?;
            let json = serde_json::to_string_pretty(&info).map_err(|e| io(e.into()))?;
            writeln!(out, "{json}").map_err(io)?;
        }
        ImageCommand::Mount { reference, dir } => {
            let info = store.resolve(reference)?;
            let merged = image::mount_rootfs(&info, dir)?;
            writeln!(out, "{}", merged.display()).map_err(io)?;
        }
        ImageCommand::Gc => {
            let gc = store.gc()?;
            writeln!(
                out,
                "removed {} unused layers, {} leftovers; {} unused layers kept (mounted)",
                gc.layers_removed, gc.temp_removed, gc.layers_in_use
            )
            .map_err(io)?;
        }
        ImageCommand::Unmount { .. } => unreachable!("handled above"),
    }
    Ok(0)
}
