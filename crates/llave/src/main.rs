//! The `llave` binary: parses the command line and hands over to the library.

use std::io::Read;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use llave::accounts::signup::SignupInput;
use llave::config::{Config, Overrides};

#[derive(Parser)]
#[command(
    name = "llave",
    version,
    about = "Citizen identity hub: accounts keyed by CURP, single sign-on, signatures."
)]
struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args)]
struct GlobalArgs {
    /// TOML configuration file.
    #[arg(long, global = true, env = "LLAVE_CONFIG")]
    config: Option<PathBuf>,
    /// Address to listen on [env: LLAVE_LISTEN] [default: 127.0.0.1:8080].
    #[arg(long, global = true)]
    listen: Option<SocketAddr>,
    /// sqlite://PATH or postgres://… [env: LLAVE_DATABASE_URL] [default: sqlite://DATA_DIR/llave.db].
    #[arg(long, global = true)]
    database: Option<String>,
    /// Public URL of this llave [env: LLAVE_ISSUER] [default: http://LISTEN].
    #[arg(long, global = true)]
    issuer: Option<String>,
    /// Data directory [env: LLAVE_DATA_DIR] [default: ./llave-data].
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    /// Population registry: file:PATH or an http(s) URL [env: LLAVE_REGISTRY].
    #[arg(long, global = true)]
    registry: Option<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the web server (migrations are applied first).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Fill the database with demo people (idempotent) and print how to sign in.
    Demo {
        #[arg(long)]
        json: bool,
    },
    /// Manage citizen accounts.
    #[command(subcommand)]
    Citizen(CitizenCommand),
}

#[derive(Subcommand)]
enum CitizenCommand {
    /// Create an account (service centres, tests); the password is read from stdin.
    Add {
        #[arg(long)]
        curp: String,
        #[arg(long)]
        given_names: String,
        #[arg(long)]
        first_surname: String,
        #[arg(long, default_value = "")]
        second_surname: String,
        /// YYYY-MM-DD
        #[arg(long)]
        birth_date: String,
        /// H, M or X
        #[arg(long)]
        sex: String,
        /// Two-letter state code, NE for born abroad.
        #[arg(long)]
        state: String,
        #[arg(long)]
        email: String,
        /// Read the password from the first line of standard input.
        #[arg(long, required = true)]
        password_stdin: bool,
        /// The operator checked the e-mail address in person (no confirmation link).
        #[arg(long)]
        email_confirmed: bool,
        #[arg(long)]
        json: bool,
    },
    /// Show an account.
    Show {
        curp: String,
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("llave: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("llave: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string(value)?);
    Ok(())
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let overrides = Overrides {
        listen: cli.global.listen,
        database_url: cli.global.database,
        issuer: cli.global.issuer,
        data_dir: cli.global.data_dir,
        registry: cli.global.registry,
    };
    let config = Config::load(cli.global.config.as_deref(), &overrides)?;
    init_tracing(matches!(cli.command, Command::Serve));
    llave::install_crypto_provider();

    match cli.command {
        Command::Serve => llave::serve(config).await?,
        Command::Migrate => {
            std::fs::create_dir_all(&config.data_dir)?;
            let store = llave::store::Store::connect(&config.database_url()).await?;
            let versions = store.migrate().await?;
            println!(
                "database is at migration {versions} ({})",
                store.backend().name()
            );
        }
        Command::Demo { json } => {
            let issuer = config.issuer();
            let app = llave::start(config).await?;
            let report = llave::admin::demo::run(&app)
                .await
                .map_err(anyhow::Error::msg)?;
            if json {
                print_json(&report)?
            } else {
                print!("{}", report.to_text(&issuer))
            }
        }
        Command::Citizen(CitizenCommand::Add {
            curp,
            given_names,
            first_surname,
            second_surname,
            birth_date,
            sex,
            state,
            email,
            password_stdin: _,
            email_confirmed,
            json,
        }) => {
            let mut password = String::new();
            std::io::stdin().take(4096).read_to_string(&mut password)?;
            let password = password.lines().next().unwrap_or("").to_string();
            let input = SignupInput {
                curp,
                given_names,
                first_surname,
                second_surname,
                birth_date,
                sex,
                state,
                email,
                password,
            };
            let app = llave::start(config).await?;
            let view = llave::admin::citizen::add(&app, &input, email_confirmed).await?;
            if json {
                print_json(&view)?
            } else {
                print!("created account {}\n{}", view.id, view.to_text())
            }
        }
        Command::Citizen(CitizenCommand::Show { curp, json }) => {
            let app = llave::start(config).await?;
            let view = llave::admin::citizen::show(&app, &curp).await?;
            if json {
                print_json(&view)?
            } else {
                print!("{}", view.to_text())
            }
        }
    }
    Ok(())
}

fn init_tracing(server: bool) {
    let default = if server { "info,sqlx=warn" } else { "warn" };
    let filter = tracing_subscriber::EnvFilter::try_from_env("LLAVE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
