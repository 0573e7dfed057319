//! The command line: [`Args`], [`Action`], and one flag per connection option.

use std::path::PathBuf;

use arrow_zerobus_sdk_wrapper::options::{self, OptionKind, OPTIONS};

/// A connection option given by flag or environment variable: the option, its value, and
/// the flag or variable it came from (for error messages).
pub(crate) type Given = (&'static options::ConnectionOption, String, String);

/// DataFusion SQL with Zerobus tables: INSERT INTO zerobus.<catalog>.<schema>.<table> SELECT …
///
/// Every connection option is a flag here too (`--retry-max-attempts`, `--max-streams`, …,
/// each with its environment variable): see [`with_connection_options`].
#[derive(clap::Parser, Debug)]
#[command(name = "zerobus-sql", version)]
pub(crate) struct Args {
    /// Run these statements and exit (repeatable).
    #[arg(short = 'c', long = "command")]
    pub(crate) commands: Vec<String>,
    /// Run the statements of these files and exit (repeatable).
    #[arg(short = 'f', long = "file")]
    pub(crate) files: Vec<PathBuf>,
    /// Output format: table, csv, tsv, json, nd-json, automatic.
    #[arg(long, default_value = "automatic")]
    pub(crate) format: String,
    /// No timing lines.
    #[arg(short, long)]
    pub(crate) quiet: bool,
    /// Warehouse of the embedded emulator.
    #[arg(long, default_value = "./zerobus-warehouse")]
    pub(crate) warehouse: PathBuf,
    /// Name of the Zerobus catalog in SQL.
    #[arg(long, default_value = "zerobus")]
    pub(crate) catalog: String,
    /// Export OpenTelemetry metrics and traces over OTLP (set by the OTEL_EXPORTER_OTLP_*
    /// and OTEL_SERVICE_NAME variables); the same as --observability-enabled.
    #[arg(long, env = "ZEROBUS_OTEL")]
    pub(crate) otel: bool,
    /// After Ctrl-C, how many seconds the batches in flight may take to be acknowledged;
    /// then the rows still unacknowledged are written to dead-letter files instead and the
    /// account is printed.
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    pub(crate) settle_secs: u64,
    /// Run statements on a Ballista cluster (its scheduler's df://HOST:PORT): a Zerobus
    /// INSERT is written by the executors, each input partition on its own streams, with
    /// the connection in each executor's environment. Needs --endpoint / ZEROBUS_ENDPOINT.
    #[cfg(feature = "ballista")]
    #[arg(long, value_name = "df://HOST:PORT")]
    pub(crate) ballista: Option<String>,
    #[command(subcommand)]
    pub(crate) action: Option<Action>,
}

#[derive(clap::Subcommand, Debug)]
pub(crate) enum Action {
    /// Send dead-letter files again (files, or directories of *.dead.arrow files); each
    /// file names its table. A replayed file is renamed *.replayed.
    Replay {
        /// Dead-letter files or directories.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// Load Parquet, CSV or JSON files into a Zerobus table, journaled: run again, files
    /// already loaded are skipped and an interrupted load sends only the rows that were
    /// not acknowledged (see --journal-dir).
    Copy {
        /// Files, directories or globs (local, or s3:// gs:// az:// URLs), then the target
        /// table, catalog.schema.table.
        #[arg(required = true, num_args = 2.., value_name = "INPUT... TABLE")]
        inputs: Vec<String>,
        /// The files' format: parquet, csv or json (else each file's extension).
        #[arg(long, value_name = "FORMAT")]
        file_format: Option<String>,
        /// Load every file from its start, whatever the journal says.
        #[arg(long)]
        force: bool,
        /// Fill this table column with each row's input file URL.
        #[arg(long, value_name = "COLUMN")]
        source_file_column: Option<String>,
        /// Fill this table column with each row's number in its file (from 0).
        #[arg(long, value_name = "COLUMN")]
        source_row_column: Option<String>,
        /// Keep running: load each new file matching the inputs as it appears, until
        /// Ctrl-C.
        #[arg(long)]
        watch: bool,
        /// With --watch, seconds between looks for new files.
        #[arg(long, value_name = "SECONDS", default_value_t = 5.0)]
        poll_secs: f64,
    },
    /// The loads into a table and the files each loaded, from the load journal.
    LoadHistory {
        /// The table, catalog.schema.table.
        table: String,
    },
}

/// `command` with one flag per connection option of [`OPTIONS`]: `--key-with-dashes`,
/// read from the option's environment variable when not given. Booleans may be given
/// bare (`--debug-enabled`). The values stay text for the options' own parser.
pub(crate) fn with_connection_options(mut command: clap::Command) -> clap::Command {
    for o in OPTIONS {
        let mut arg = clap::Arg::new(o.key)
            .long(o.key.replace('_', "-"))
            .env(o.env)
            .help(if o.key == "endpoint" {
                "Zerobus endpoint URL; without it the embedded emulator is used".to_string()
            } else {
                let mut help = o.help.to_string();
                if let Some(first) = help.get_mut(..1) {
                    first.make_ascii_uppercase();
                }
                help
            });
        arg = match o.kind {
            OptionKind::Flag => arg
                .num_args(0..=1)
                .default_missing_value("true")
                .value_name("BOOL"),
            OptionKind::Secret => arg.hide_env_values(true).value_name("SECRET"),
            OptionKind::Number => arg.value_name("N"),
            OptionKind::Path => arg.value_name("DIR"),
            OptionKind::Choice(words) => arg.value_name(words.join("|")),
            OptionKind::Text => arg.value_name("TEXT"),
        };
        command = command.arg(arg);
    }
    command
}

/// The connection options given (by flag or environment variable): option, value, and the
/// flag or variable it came from, for error messages.
pub(crate) fn given_options(matches: &clap::ArgMatches) -> Vec<Given> {
    OPTIONS
        .iter()
        .filter_map(|o| {
            let value = matches.get_one::<String>(o.key)?.clone();
            let said_as = match matches.value_source(o.key) {
                Some(clap::parser::ValueSource::EnvVariable) => o.env.to_string(),
                _ => format!("--{}", o.key.replace('_', "-")),
            };
            Some((o, value, said_as))
        })
        .filter(|(_, value, _)| !value.trim().is_empty())
        .collect()
}
