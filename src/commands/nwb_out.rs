//! The NWB output options the commands share: metadata (`--nwb-meta`, `--dandi`) and where
//! results go (`--nwb`, `--nwb-out`, `--in-place`).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// Session and subject metadata of the NWB files a command writes.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct NwbMetaArgs {
    /// NWB session and subject metadata, a TOML file: session_id, experimenter, institution,
    /// lab, keywords, experiment_description, a `subject` table with subject_id, species
    /// ("Mus musculus"), sex (M/F/O/U), age ("P90D"), and an `imaging` table (location,
    /// indicator) for new ophys files (docs/formats.md). Added to a copy of an existing file,
    /// it fills only the fields that file lacks
    #[arg(long)]
    pub nwb_meta: Option<PathBuf>,
    /// Refuse to write an NWB file that misses what DANDI requires (subject id, species, sex
    /// and age, from --nwb-meta)
    #[arg(long)]
    pub dandi: bool,
}

/// Where a command adds its results in NWB.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct NwbOutArgs {
    /// Add the results to this NWB file. An existing file is only read: the results go to a
    /// copy next to it (`<name>_spikelab.nwb`, or --nwb-out) unless --in-place. A file that
    /// does not exist is created.
    #[arg(long)]
    pub nwb: Option<PathBuf>,
    /// Where the copy of the --nwb file with the results goes.
    #[arg(long, requires = "nwb")]
    pub nwb_out: Option<PathBuf>,
    /// Replace the --nwb file itself by one with the results (atomically).
    #[arg(long, requires = "nwb", conflicts_with = "nwb_out")]
    pub in_place: bool,
    #[command(flatten)]
    pub meta: NwbMetaArgs,
}

/// What `--nwb` resolves to.
#[derive(Debug, Clone)]
pub struct NwbTarget {
    /// The user's file, when it exists (results are added to a copy of it).
    pub source: Option<PathBuf>,
    /// The file written.
    pub dest: PathBuf,
    /// Whether `dest` may be replaced.
    pub overwrite: bool,
}

impl NwbMetaArgs {
    /// The metadata from `--nwb-meta` with `--dandi` applied. Without `--dandi`, missing
    /// DANDI fields are a warning on stderr.
    #[cfg(feature = "hdf5")]
    pub fn metadata(&self) -> Result<spikelab_data::io::nwb::NwbMetadata> {
        let meta = self.load()?;
        meta.validate()?;
        let missing = meta.dandi_missing();
        if !missing.is_empty() {
            eprintln!(
                "warning: the NWB file lacks {} (DANDI requires them; give them with --nwb-meta, and --dandi to make this an error)",
                missing.join(", ")
            );
        }
        Ok(meta)
    }
}

impl NwbMetaArgs {
    /// `--nwb-meta` (or no metadata) with `--dandi` applied, not yet checked for DANDI: a copy
    /// of a user's file may hold what the TOML lacks.
    #[cfg(feature = "hdf5")]
    fn load(&self) -> Result<spikelab_data::io::nwb::NwbMetadata> {
        let mut meta = match &self.nwb_meta {
            Some(p) => spikelab_data::io::nwb::NwbMetadata::from_toml_file(p)?,
            None => Default::default(),
        };
        meta.dandi |= self.dandi;
        Ok(meta)
    }
}

impl NwbTarget {
    /// Options for adding to a copy of the user's file, with the metadata of `meta`.
    #[cfg(feature = "hdf5")]
    pub fn add_options(&self, meta: &NwbMetaArgs) -> Result<spikelab_data::io::nwb::NwbAddOptions> {
        Ok(spikelab_data::io::nwb::NwbAddOptions {
            overwrite: self.overwrite,
            metadata: meta.load()?,
        })
    }
}

impl NwbOutArgs {
    /// The source and destination of `--nwb`, checked for writing (`force` allows replacing
    /// an existing destination). `None` without `--nwb`.
    pub fn target(&self, force: bool) -> Result<Option<NwbTarget>> {
        let Some(nwb) = &self.nwb else {
            return Ok(None);
        };
        let exists = nwb.exists();
        let dest = match (&self.nwb_out, self.in_place, exists) {
            (Some(out), _, _) => out.clone(),
            (None, true, _) | (None, false, false) => nwb.clone(),
            (None, false, true) => copy_path(nwb)?,
        };
        let overwrite = force || (self.in_place && dest == *nwb);
        spikelab_data::io::check_writable(&dest, overwrite)?;
        Ok(Some(NwbTarget {
            source: exists.then(|| nwb.clone()),
            dest,
            overwrite,
        }))
    }
}

impl NwbMetaArgs {
    /// Whether metadata was asked for.
    pub fn given(&self) -> bool {
        self.nwb_meta.is_some() || self.dandi
    }

    /// Checks `--nwb-meta` and `--dandi` before any work, for commands that write NWB files
    /// through a library writer that takes no metadata; [`NwbMetaArgs::annotate`] adds it.
    pub fn check_before(&self, outputs_nwb: bool) -> Result<()> {
        if !self.given() {
            return Ok(());
        }
        anyhow::ensure!(
            outputs_nwb,
            "--nwb-meta and --dandi apply to NWB outputs (an output ending in .nwb)"
        );
        #[cfg(feature = "hdf5")]
        self.metadata()?;
        Ok(())
    }

    /// Fills the metadata into the NWB file `path` that this command wrote (atomically, in
    /// place). Nothing when no metadata was asked for.
    pub fn annotate(&self, path: &Path) -> Result<()> {
        if !self.given() {
            return Ok(());
        }
        #[cfg(feature = "hdf5")]
        {
            let metadata = self.metadata()?;
            let opts = spikelab_data::io::nwb::NwbAddOptions {
                overwrite: true,
                metadata,
            };
            spikelab_data::io::nwb::add_metadata(path, path, &opts)?;
            Ok(())
        }
        #[cfg(not(feature = "hdf5"))]
        anyhow::bail!("{}: NWB needs the `hdf5` feature", path.display())
    }
}

/// `spikelab annotate FILE --nwb-meta META.toml [--out OUT | --in-place] [--dandi]`.
#[derive(clap::Args, Debug)]
pub struct AnnotateArgs {
    /// The NWB file (only read unless --in-place).
    pub input: PathBuf,
    /// Where the annotated copy goes (default `<name>_spikelab.nwb` beside the input).
    #[arg(long, conflicts_with = "in_place")]
    pub out: Option<PathBuf>,
    /// Replace the input by the annotated file (atomically).
    #[arg(long)]
    pub in_place: bool,
    /// Replace an existing --out file.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub meta: NwbMetaArgs,
}

/// Fills the metadata fields the file lacks (its own are kept) into a copy, or in place.
pub fn annotate(a: AnnotateArgs) -> Result<()> {
    anyhow::ensure!(
        a.meta.given(),
        "give the metadata with --nwb-meta (and --dandi to require DANDI's fields)"
    );
    let target = NwbOutArgs {
        nwb: Some(a.input.clone()),
        nwb_out: a.out.clone(),
        in_place: a.in_place,
        meta: a.meta.clone(),
    }
    .target(a.force)?
    .context("the input is required")?;
    let src = target
        .source
        .clone()
        .with_context(|| format!("{} does not exist", a.input.display()))?;
    #[cfg(feature = "hdf5")]
    {
        spikelab_data::io::nwb::add_metadata(&src, &target.dest, &target.add_options(&a.meta)?)?;
        println!("wrote {}", target.dest.display());
        Ok(())
    }
    #[cfg(not(feature = "hdf5"))]
    anyhow::bail!("{}: NWB needs the `hdf5` feature", src.display())
}

#[cfg(feature = "hdf5")]
fn copy_path(nwb: &Path) -> Result<PathBuf> {
    Ok(spikelab_data::io::nwb::default_copy_path(nwb))
}

#[cfg(not(feature = "hdf5"))]
fn copy_path(nwb: &Path) -> Result<PathBuf> {
    anyhow::bail!("{}: NWB needs the `hdf5` feature", nwb.display())
}
