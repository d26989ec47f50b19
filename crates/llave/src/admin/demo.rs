//! `llave demo`: demo people with known passwords (e-mail confirmed), and a population
//! registry file holding them plus people who have no account yet, to try sign-up with.
//! The registry is named in the data directory's settings (`DATA_DIR/llave.toml`), so the
//! `llave serve` that follows checks sign-ups against it. Deterministic and idempotent:
//! running it again changes nothing, and lists only the registry's people still without
//! an account.

use serde::Serialize;

use crate::Services;
use crate::accounts::signup::SignupInput;
use crate::admin::citizen;
use crate::registry::{FileRegistry, RegistryRecord};

const SEED: u64 = 2026;
const DEMO_PEOPLE: usize = 3;
const UNCLAIMED_PEOPLE: usize = 5;

/// The service centre of the demo's officer.
pub const DEMO_OFFICE: &str = "Módulo Centro Histórico";

#[derive(Debug, Serialize)]
pub struct DemoPerson {
    pub curp: String,
    pub name: String,
    pub email: String,
    pub password: String,
    /// False when the account already existed (a second run).
    pub created: bool,
}

#[derive(Debug, Serialize)]
pub struct DemoReport {
    pub people: Vec<DemoPerson>,
    /// People in the demo registry without an account: sign up as one of them.
    pub unclaimed: Vec<RegistryRecord>,
    pub registry_file: String,
    /// The data directory's settings file, and whether it names the demo registry.
    pub config_file: String,
    pub registry_setting: crate::config::data_dir::RegistrySetting,
    /// The command that serves the demo (development mode: the outbox and the demo sites).
    pub serve_command: String,
    /// The demo person who is also an officer at a service centre (`/oficina`), at
    /// [`DEMO_OFFICE`].
    pub officer: String,
    /// Procedures in the demo catalog (created or updated on this run).
    pub catalog: crate::catalog::storage::ImportCounts,
    /// The entities' demo sites, served by llave under `/demo/`.
    pub sites: Vec<DemoSite>,
    /// The demo bank, a third party (FAPI 2.0 client) served under `/demo/banco/`.
    pub bank: DemoSite,
}

#[derive(Debug, Serialize)]
pub struct DemoSite {
    pub entity: String,
    pub name: String,
    pub url: String,
    pub client_id: String,
}

/// Demo government bodies and their catalog of procedures.
const DEMO_ENTITIES: &[(&str, &str)] = &[
    ("semovi", "Secretaría de Movilidad"),
    ("sacmex", "Sistema de Aguas de la Ciudad de México"),
    ("registro-civil", "Registro Civil"),
    ("finanzas", "Secretaría de Administración y Finanzas"),
    ("alcaldia-cuauhtemoc", "Alcaldía Cuauhtémoc"),
    ("alcaldia-coyoacan", "Alcaldía Coyoacán"),
    ("sedeco", "Secretaría de Desarrollo Económico"),
    ("bienestar", "Secretaría de Bienestar e Igualdad Social"),
    ("sectei", "Secretaría de Educación, Ciencia, Tecnología e Innovación"),
    ("consejeria", "Consejería Jurídica y de Servicios Legales"),
    ("salud", "Secretaría de Salud"),
    ("seduvi", "Secretaría de Desarrollo Urbano y Vivienda"),
];
const DEMO_CATALOG: &str = include_str!("../../demo/catalog.json");

pub async fn run(app: &Services) -> Result<DemoReport, String> {
    let mut synth = curp::Synth::new(SEED);
    let mut people = Vec::new();
    let mut records = Vec::new();
    for n in 0..DEMO_PEOPLE + UNCLAIMED_PEOPLE {
        let person = synth.person();
        let curp = synth.curp(&person);
        records.push(RegistryRecord::from_person(&curp, &person));
        if n >= DEMO_PEOPLE {
            continue;
        }
        let email = format!("demo{}@llave.localhost", n + 1);
        let password = format!("demo llave nopal {}", n + 1);
        let existing = app.store.account_by_curp(curp.as_str()).await.map_err(|e| e.to_string())?;
        let created = if existing.is_none() {
            let input = SignupInput::synthetic(&curp, &person, email.clone(), password.clone());
            match citizen::add(app, &input, true).await {
                Ok(_) => true,
                // Another process created it meanwhile: still idempotent.
                Err(citizen::CitizenError::Invalid(p)) if p.iter().any(|p| p.key == "curp-taken") => false,
                Err(error) => return Err(error.to_string()),
            }
        } else {
            false
        };
        let second = person.second_surname.as_deref().map(|s| format!(" {s}")).unwrap_or_default();
        people.push(DemoPerson {
            curp: curp.to_string(),
            name: format!("{} {}{}", person.given_names, person.first_surname, second),
            email,
            password,
            created,
        });
    }
    for (slug, name) in DEMO_ENTITIES {
        if app.store.entity_by_slug(slug).await.map_err(|e| e.to_string())?.is_none() {
            crate::admin::entity::add_entity(app, slug, name).await.map_err(|e| e.to_string())?;
        }
    }
    let catalog =
        crate::catalog::import(&app.store, DEMO_CATALOG, "demo", crate::crypto::now()).await.map_err(|e| match e {
            crate::catalog::ImportError::Rows(rows) => {
                rows.iter().map(|r| r.to_string()).collect::<Vec<_>>().join("\n")
            }
            other => other.to_string(),
        })?;
    // The last demo person staffs a service centre: they can verify the others in person,
    // and open accounts for people who come to the counter.
    let officer = people.last().map(|p| p.curp.clone()).unwrap_or_default();
    if let Some(account) = app.store.account_by_curp(&officer).await.map_err(|e| e.to_string())? {
        super::staff::grant_at_office(
            &app.store,
            account.id,
            "officer",
            crate::store::roles::HUB,
            Some(DEMO_OFFICE),
            "demo",
        )
        .await
        .map_err(|e| e.to_string())?;
    }
    // The entities' own sites, to follow a record from one entity to another.
    let sites = crate::demo_sites::register(app)
        .await
        .map_err(|e| e.to_string())?
        .into_iter()
        .map(|(site, url)| DemoSite {
            entity: site.slug.to_string(),
            name: site.entity_name.to_string(),
            url,
            client_id: site.client_id(),
        })
        .collect();
    // A bank outside government, opening an account with the person's consent (issue 17).
    let bank = DemoSite {
        entity: crate::demo_sites::bank::THIRD_PARTY_SLUG.to_string(),
        name: crate::demo_sites::bank::SITE.entity_name.to_string(),
        url: crate::demo_sites::bank::register(app).await.map_err(|e| e.to_string())?,
        client_id: crate::demo_sites::bank::CLIENT_ID.to_string(),
    };
    // Signatures work out of the box: the demo installation has its PKI.
    crate::signature::init(app).await.map_err(|e| e.to_string())?;
    let path = app.config.data_dir.join("registry.json");
    FileRegistry::write(&path, &records).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    // An absolute path: `serve` may run from another folder.
    let path = std::path::absolute(&path).map_err(|e| format!("cannot resolve {}: {e}", path.display()))?;
    let config_file = crate::config::data_dir::file(&app.config.data_dir);
    let registry_setting =
        crate::config::data_dir::set_registry(&app.config.data_dir, &format!("file:{}", path.display()))
            .map_err(|e| format!("cannot write {}: {e}", config_file.display()))?;
    let mut unclaimed = Vec::new();
    for record in records.split_off(DEMO_PEOPLE) {
        if app.store.account_by_curp(&record.curp).await.map_err(|e| e.to_string())?.is_none() {
            unclaimed.push(record);
        }
    }
    Ok(DemoReport {
        people,
        unclaimed,
        registry_file: path.display().to_string(),
        config_file: config_file.display().to_string(),
        registry_setting,
        serve_command: "llave serve --dev".into(),
        officer,
        catalog,
        sites,
        bank,
    })
}

impl DemoReport {
    pub fn to_text(&self, issuer: &str) -> String {
        let mut out = String::from("Demo people (sign in with the CURP or the e-mail):\n");
        for p in &self.people {
            out.push_str(&format!("  {}  {:<40} {:<26} password: {}\n", p.curp, p.name, p.email, p.password));
        }
        if self.unclaimed.is_empty() {
            out.push_str("\nEveryone in the demo population registry has an account now.\n");
        } else {
            out.push_str("\nPeople in the demo population registry without an account (try signing up as one):\n");
        }
        for r in &self.unclaimed {
            let second = r.second_surname.as_deref().map(|s| format!(" / {s}")).unwrap_or_default();
            out.push_str(&format!(
                "  {}  {} / {}{}  born {}\n",
                r.curp, r.given_names, r.first_surname, second, r.birth_date
            ));
        }
        out.push_str(&format!(
            "\nOfficer: {} ({DEMO_OFFICE}) verifies people's identity in person at {issuer}/oficina (level 2)\n\
             and opens accounts for people at the counter ({issuer}/oficina/abrir; they activate them at\n\
             {issuer}/activar with the printed code); the desk\n\
             needs a second factor: on first visit, turn on the authenticator app at {issuer}/account\n\
             and sign in again with it. Passkeys and the authenticator app are on each person's account\n\
             page. Start `{}` with\n\
             LLAVE_ASSURANCE__REFERENCE_PROVIDER=true to try remote verification with the reference provider.\n\
             Verified people sign documents at {issuer}/firma; anyone verifies at {issuer}/verificar.\n",
            self.officer, self.serve_command
        ));
        out.push_str(&format!(
            "\nCatalog: {} procedures created, {} updated; browse them at {issuer}/tramites\n",
            self.catalog.created, self.catalog.updated
        ));
        out.push_str("\nThe hub and its spokes, in two entity sites served under /demo/ (sign in as a demo person):\n");
        for site in &self.sites {
            out.push_str(&format!("  {:<40} {}\n", site.name, site.url));
        }
        for line in [
            "  1. At the Alcaldía, sign in with Llave and ask for a proof of residence (it stays in the Alcaldía's store).",
            "  2. At Semovi, apply for a driver's licence: Llave asks you to let Semovi read it; allow it, and Semovi",
            "     shows the address it read from the Alcaldía. The read is in the person's access log.",
        ] {
            out.push_str(line);
            out.push('\n');
        }
        out.push_str(&format!(
            "\nA bank outside government, a FAPI 2.0 client of llave: {} {}\n\
             \x20 3. Open an account with Llave: allow the bank your name, CURP, birth date and the Alcaldía's\n\
             \x20    proof of residence; the bank shows what it received and that the seals verify. Revoke the\n\
             \x20    consent in your file ({issuer}/expediente) and the bank's next fetch is refused.\n",
            self.bank.name, self.bank.url
        ));
        let registry = match &self.registry_setting {
            crate::config::data_dir::RegistrySetting::Other(other) => format!(
                "\nRegistry file: {}; {} names another registry ({other}), which `serve` uses instead.\n",
                self.registry_file, self.config_file
            ),
            _ => format!(
                "\nRegistry file: {}, named in {}: `serve` checks every sign-up against it.\n",
                self.registry_file, self.config_file
            ),
        };
        out.push_str(&registry);
        out.push_str(&format!(
            "\nServe the demo (development mode: e-mails at {issuer}/dev/outbox, the sites under /demo/; only on\n\
             this machine) with:\n\n    {}\n\nthen open {issuer}/\n",
            self.serve_command
        ));
        out
    }
}
