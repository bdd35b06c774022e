//! The `gregor` command: parses flags and hands over to the library.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use gregor::config::{set_listener, BrokerConfig};
use gregor::log::dump::{dump, DumpOptions};

#[derive(Parser)]
#[command(name = "gregor", version, about = "A Kafka-compatible message broker")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the broker (defaults: 127.0.0.1:9092, data in ./gregor-data).
    Serve(ServeArgs),
    /// Show the consumer groups of a running broker: members, assignments, offsets and lag.
    Groups {
        /// The broker to ask.
        #[arg(long, short = 'b', default_value = "127.0.0.1:9092")]
        bootstrap: String,
        /// Only this group.
        group: Option<String>,
    },
    /// Describe or change topic and broker configs of a running broker, like kafka-configs.
    Configs(ConfigsArgs),
    /// List, add or remove ACLs of a running broker or cluster, like kafka-acls.
    Acls(AclsArgs),
    /// Show a cluster's health: nodes, the metadata quorum, and under-replicated, under min
    /// ISR and offline partitions.
    Cluster {
        /// Brokers to ask (the first that answers), comma-separated.
        #[arg(
            long,
            short = 'b',
            visible_alias = "bootstrap-server",
            default_value = "127.0.0.1:9092"
        )]
        bootstrap: String,
        /// Print one JSON object instead of tables.
        #[arg(long)]
        json: bool,
    },
    /// List, add or delete SCRAM users (AlterUserScramCredentials), like kafka-configs
    /// --entity-type users.
    Users {
        /// The broker to ask.
        #[arg(long, short = 'b', default_value = "127.0.0.1:9092")]
        bootstrap: String,
        #[command(subcommand)]
        action: UsersAction,
    },
    /// Print the batches of log segment files, like Kafka's DumpLogSegments.
    DumpLog {
        /// Segment files (.log, .index or .timeindex).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Also print every record's key, value and headers.
        #[arg(long)]
        print_data: bool,
        /// Check .index and .timeindex against the log.
        #[arg(long)]
        verify_index: bool,
    },
    /// Print the README's configuration tables, generated from the key table.
    #[command(hide = true)]
    ConfigDocs {
        /// Rewrite the generated sections of this file (README.md) in place instead.
        #[arg(long)]
        write: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum UsersAction {
    /// Every user with a SCRAM credential: mechanisms and iterations.
    List,
    /// Set a user's SCRAM credential (the password is salted here, never sent).
    Add {
        user: String,
        /// The password (read from GREGOR_PASSWORD when not given).
        #[arg(long)]
        password: Option<String>,
        #[arg(long, default_value = "SCRAM-SHA-512")]
        mechanism: String,
        #[arg(long, default_value_t = 4096)]
        iterations: i32,
    },
    /// Delete a user's credential for one mechanism.
    Delete {
        user: String,
        #[arg(long, default_value = "SCRAM-SHA-512")]
        mechanism: String,
    },
}

fn users(bootstrap: &str, action: UsersAction) -> anyhow::Result<String> {
    use gregor::tools::users::{self as tool, Action};
    let action = match action {
        UsersAction::List => Action::List,
        UsersAction::Add {
            user,
            password,
            mechanism,
            iterations,
        } => Action::Add {
            user,
            password: match password {
                Some(p) => p,
                None => std::env::var("GREGOR_PASSWORD")
                    .context("give --password or set GREGOR_PASSWORD")?,
            },
            mechanism: tool::parse_mechanism(&mechanism).map_err(anyhow::Error::msg)?,
            iterations,
        },
        UsersAction::Delete { user, mechanism } => Action::Delete {
            user,
            mechanism: tool::parse_mechanism(&mechanism).map_err(anyhow::Error::msg)?,
        },
    };
    tool::run(bootstrap, &action).map_err(anyhow::Error::msg)
}

#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("action").required(true).args(["describe", "alter"])))]
#[command(group(clap::ArgGroup::new("entity").args(["entity_name", "entity_default"])))]
struct ConfigsArgs {
    /// The broker to ask.
    #[arg(
        long,
        short = 'b',
        visible_alias = "bootstrap",
        default_value = "127.0.0.1:9092"
    )]
    bootstrap_server: String,
    /// `topics` or `brokers`.
    #[arg(long)]
    entity_type: String,
    /// The topic name or broker id (all of them when describing without it).
    #[arg(long)]
    entity_name: Option<String>,
    /// The cluster-wide broker default.
    #[arg(long)]
    entity_default: bool,
    /// List the entity's dynamic configs (all configs with `--all`).
    #[arg(long)]
    describe: bool,
    /// With --describe: every config, static and default ones too.
    #[arg(long)]
    all: bool,
    /// Change configs: --add-config and/or --delete-config.
    #[arg(long)]
    alter: bool,
    /// Configs to set: `k1=v1,k2=[a,b]`.
    #[arg(long)]
    add_config: Option<String>,
    /// Configs to remove: `k1,k2`.
    #[arg(long)]
    delete_config: Option<String>,
}

fn configs(args: ConfigsArgs) -> anyhow::Result<String> {
    use gregor::tools::configs::{self as tool, Action, EntityType};
    let entity_type = EntityType::parse(&args.entity_type).map_err(anyhow::Error::msg)?;
    let action = if args.alter {
        Action::Alter {
            add: match &args.add_config {
                Some(a) => tool::parse_add_config(a).map_err(anyhow::Error::msg)?,
                None => Vec::new(),
            },
            delete: args
                .delete_config
                .as_deref()
                .map(tool::parse_delete_config)
                .unwrap_or_default(),
        }
    } else {
        Action::Describe { all: args.all }
    };
    let entity = if args.entity_default {
        Some(String::new())
    } else {
        args.entity_name
    };
    let cmd = tool::Command {
        bootstrap: args.bootstrap_server,
        entity_type,
        entity,
        action,
    };
    tool::run(&cmd).map_err(anyhow::Error::msg)
}

#[derive(clap::Args)]
struct ServeArgs {
    /// A Kafka-style server.properties file (Kafka's key names).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Address of the PLAINTEXT listener (replaces that entry of `listeners`).
    #[arg(long)]
    listen: Option<String>,
    /// Address clients are told to connect to on the PLAINTEXT listener (replaces that
    /// entry of `advertised.listeners`).
    #[arg(long)]
    advertised: Option<String>,
    /// Data directory (overrides `log.dirs`).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// This node's id (overrides `node.id`).
    #[arg(long)]
    node_id: Option<i32>,
    /// fsync every append before acknowledging it (sets log.flush.interval.messages=1).
    #[arg(long)]
    durable: bool,
    /// Extra `key=value` settings, as in server.properties (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// Test seam: record each segment fsync's durable length in `<segment>.log.synced`
    /// (`gregor::fs::sync_observer`), for the power-loss test.
    #[arg(long, hide = true)]
    record_syncs: bool,
    /// Test seam: refuse transaction markers for this topic with a retriable error
    /// (`BrokerConfig::fail_markers_for`), leaving its transactions in PrepareCommit/Abort.
    #[arg(long, hide = true, value_name = "TOPIC")]
    fail_markers_for: Option<String>,
}

fn broker_config(args: &ServeArgs) -> anyhow::Result<BrokerConfig> {
    let mut cfg = match &args.config {
        Some(p) => BrokerConfig::from_properties_file(p)
            .with_context(|| format!("reading {}", p.display()))?,
        None => BrokerConfig::default(),
    };
    let mut pairs: Vec<(String, String)> = args
        .set
        .iter()
        .map(|kv| {
            kv.split_once('=')
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                .context("--set takes KEY=VALUE")
        })
        .collect::<anyhow::Result<_>>()?;
    // Flags are settings too: they win over the file and `--set`, and DescribeConfigs reports
    // them as static broker config.
    let flags = [
        (
            "log.dirs",
            args.data_dir.as_ref().map(|d| d.display().to_string()),
        ),
        ("node.id", args.node_id.map(|n| n.to_string())),
        (
            "log.flush.interval.messages",
            args.durable.then(|| "1".to_string()),
        ),
    ];
    pairs.extend(
        flags
            .into_iter()
            .filter_map(|(k, v)| Some((k.to_string(), v?))),
    );
    // `--listen` and `--advertised` set the PLAINTEXT listener and leave the others (a
    // CONTROLLER listener, say) as the file and `--set` gave them.
    let mut warnings = Vec::new();
    cfg.apply_properties(&pairs, &mut warnings)?;
    let current = |key: &str| {
        cfg.properties
            .get(key)
            .cloned()
            .or_else(|| {
                gregor::config::keys::broker_key(key).and_then(|k| k.default.map(str::to_string))
            })
            .unwrap_or_default()
    };
    let mut listener_flags = Vec::new();
    if let Some(l) = &args.listen {
        let list = current("listeners");
        listener_flags.push(("listeners".to_string(), set_listener(&list, "PLAINTEXT", l)));
    }
    if let Some(a) = &args.advertised {
        let list = current("advertised.listeners");
        listener_flags.push((
            "advertised.listeners".to_string(),
            set_listener(&list, "PLAINTEXT", a),
        ));
    }
    cfg.apply_properties(&listener_flags, &mut warnings)?;
    for w in warnings {
        tracing::warn!("--set: {w}");
    }
    if let Some(d) = &args.data_dir {
        cfg.data_dir = d.clone(); // exactly as given, even with a comma in it
    }
    cfg.fail_markers_for = args.fail_markers_for.clone();
    Ok(cfg)
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            // openraft logs every state change at INFO (whole Raft states at start-up): only
            // its warnings by default; RUST_LOG=openraft=info shows them.
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,openraft=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve(args),
        Command::ConfigDocs { write } => config_docs(write),
        Command::Configs(args) => configs(args).map(|text| print!("{text}")),
        Command::Acls(args) => acls(args)
            .map(|text| print!("{text}"))
            .map_err(anyhow::Error::msg),
        Command::Users { bootstrap, action } => {
            users(&bootstrap, action).map(|text| print!("{text}"))
        }
        Command::Cluster { bootstrap, json } => gregor::tools::cluster::report(&bootstrap, json)
            .map(|text| print!("{text}"))
            .map_err(anyhow::Error::msg),
        Command::Groups { bootstrap, group } => {
            match gregor::tools::groups::report(&bootstrap, group.as_deref()) {
                Ok(text) => {
                    print!("{text}");
                    return ExitCode::SUCCESS;
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::FAILURE;
                }
            }
        }
        Command::DumpLog {
            files,
            print_data,
            verify_index,
        } => {
            let mut stdout = std::io::stdout().lock();
            let mut code = ExitCode::SUCCESS;
            for f in files {
                match dump(
                    &f,
                    DumpOptions {
                        print_data,
                        verify_index,
                    },
                    &mut stdout,
                ) {
                    Ok(s) if s.index_errors > 0 => code = ExitCode::from(2),
                    Ok(_) => {}
                    Err(e) => {
                        eprintln!("error: {e}");
                        code = ExitCode::FAILURE;
                    }
                }
            }
            return code;
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Prints the generated configuration tables, or splices them into `write` (the README).
fn config_docs(write: Option<PathBuf>) -> anyhow::Result<()> {
    use gregor::config::docs;
    match write {
        None => print!("{}", docs::render_all()),
        Some(path) => {
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("reading {}", path.display()))?;
            let fresh = docs::splice(&text).map_err(anyhow::Error::msg)?;
            if fresh != text {
                std::fs::write(&path, fresh)
                    .with_context(|| format!("writing {}", path.display()))?;
            }
        }
    }
    Ok(())
}

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let cfg = broker_config(&args)?;
    // Roles, listeners and quorum are checked before anything is opened (Kafka's messages).
    let cluster = gregor::config::ClusterConfig::from_config(&cfg)
        .map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?;
    // So are the TLS settings of every SSL listener (keystores and truststores read).
    for l in &cluster.listeners {
        gregor::security::ssl::listener_tls(&cfg, l)
            .map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?;
    }
    if args.record_syncs {
        use gregor::fs::sync_observer::{install, RecordSyncedLengths};
        install(Box::new(RecordSyncedLengths));
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(gregor::node::run(cfg, shutdown_signal()))
        .context("broker failed")
}

/// `gregor acls`.
#[derive(clap::Args)]
struct AclsArgs {
    /// `list`, `add` or `remove`.
    action: String,
    /// The broker to ask.
    #[arg(
        long,
        short = 'b',
        visible_alias = "bootstrap-server",
        default_value = "127.0.0.1:9092"
    )]
    bootstrap: String,
    /// The resource: `topic:NAME`, `group:NAME`, `transactional-id:NAME`, `cluster`.
    #[arg(long)]
    resource: Option<String>,
    /// The name is a prefix (PREFIXED) rather than LITERAL.
    #[arg(long)]
    prefixed: bool,
    /// `User:name` (`User:*` for everyone).
    #[arg(long, default_value = "User:*")]
    principal: String,
    /// The client address, or `*`.
    #[arg(long, default_value = "*")]
    host: String,
    /// READ, WRITE, CREATE, DELETE, ALTER, DESCRIBE, CLUSTER_ACTION, DESCRIBE_CONFIGS,
    /// ALTER_CONFIGS, IDEMPOTENT_WRITE or ALL.
    #[arg(long, default_value = "ALL")]
    operation: String,
    /// DENY instead of ALLOW.
    #[arg(long)]
    deny: bool,
}

fn acls(args: AclsArgs) -> Result<String, String> {
    use gregor::security::acl::{
        AclOperation, AclPermission, PatternType, ResourceType, CLUSTER_NAME,
    };
    use gregor::tools::acls::{add, list, remove, AclSpec};
    if args.action == "list" {
        return list(&args.bootstrap);
    }
    let resource = args.resource.as_deref().ok_or("--resource is required")?;
    let (resource_type, resource_name) = match resource.split_once(':') {
        None if resource.eq_ignore_ascii_case("cluster") => {
            (ResourceType::Cluster, CLUSTER_NAME.to_string())
        }
        Some((t, n)) => (
            ResourceType::parse(t).ok_or(format!("unknown resource type {t}"))?,
            n.to_string(),
        ),
        None => {
            return Err(format!(
                "--resource {resource}: expected TYPE:NAME or cluster"
            ))
        }
    };
    let spec = AclSpec {
        resource_type,
        resource_name,
        pattern_type: if args.prefixed {
            PatternType::Prefixed
        } else {
            PatternType::Literal
        },
        principal: args.principal,
        host: args.host,
        operation: AclOperation::parse(&args.operation)
            .ok_or(format!("unknown operation {}", args.operation))?,
        permission: if args.deny {
            AclPermission::Deny
        } else {
            AclPermission::Allow
        },
    };
    match args.action.as_str() {
        "add" => add(&args.bootstrap, &spec).map(|_| "added\n".to_string()),
        "remove" => remove(&args.bootstrap, &spec).map(|n| format!("removed {n}\n")),
        other => Err(format!("unknown action {other}: list, add or remove")),
    }
}
