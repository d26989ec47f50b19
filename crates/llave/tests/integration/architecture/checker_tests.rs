//! The checker on small hand-made crates, so each rule is shown able to fail.

use super::model::Crate;
use super::rules::{self, Layers};

const LAYERS: Layers = Layers { roots: &["lib", "app"], capabilities: &["alpha", "beta"] };

fn analyze(files: &[(&str, &str)]) -> Crate {
    let sources: Vec<(String, String)> = files.iter().map(|(p, s)| (p.to_string(), s.to_string())).collect();
    Crate::analyze(&sources)
}

fn targets(krate: &Crate, path: &str) -> Vec<String> {
    let file = krate.files.iter().find(|f| f.path == path).expect("file analysed");
    file.references.iter().map(|r| format!("{}:{}", r.line, r.target.join("::"))).collect()
}

#[test]
fn architecture_checker_finds_a_two_module_cycle() {
    let krate = analyze(&[
        ("alpha/mod.rs", "pub fn a() { crate::beta::b() }"),
        ("beta/mod.rs", "use crate::alpha;\npub fn b() { alpha::a() }"),
        ("lib.rs", "pub mod alpha; pub mod beta;"),
    ]);
    let cycles = rules::cycles(&rules::edges(&krate, &LAYERS));
    assert_eq!(cycles.len(), 1, "{cycles:?}");
    assert!(cycles[0].starts_with("cycle alpha → beta → alpha"), "{}", cycles[0]);
    assert!(cycles[0].contains("alpha/mod.rs:1: `crate::beta::b`"), "{}", cycles[0]);
    assert!(cycles[0].contains("beta/mod.rs:1: `crate::alpha`"), "{}", cycles[0]);
}

#[test]
fn architecture_checker_accepts_a_layered_graph_and_leaves_roots_out() {
    let krate = analyze(&[
        ("alpha/mod.rs", "pub fn a() { crate::store::get() }"),
        ("beta/mod.rs", "pub fn b() { crate::alpha::a(); crate::App::new() }"),
        ("store/mod.rs", "pub fn get() {}"),
        // The root imports everything and is imported: no cycle, it is left out.
        ("app.rs", "use crate::{alpha, beta, store};"),
        ("lib.rs", "pub struct App; pub mod app;"),
    ]);
    let edges = rules::edges(&krate, &LAYERS);
    assert!(rules::cycles(&edges).is_empty());
    assert!(rules::infrastructure_imports(&edges, &LAYERS).is_empty());
    let pairs: Vec<(String, String)> = edges.iter().map(|e| (e.from.clone(), e.to.clone())).collect();
    assert_eq!(pairs, [("alpha".into(), "store".into()), ("beta".into(), "alpha".into())]);
}

#[test]
fn architecture_checker_resolves_nested_use_groups_super_and_renames() {
    let krate = analyze(&[
        ("alpha/mod.rs", "pub mod page;\npub mod model;"),
        (
            "alpha/page.rs",
            "use crate::{beta::{routes, model::{self as m, Thing}}, store};\nuse super::model::*;\n\
             fn f() { routes::show(); m::x(); super::super::beta::routes::list() }\n\
             mod tests { use super::f; }",
        ),
        ("alpha/model.rs", ""),
        ("beta/mod.rs", "pub mod routes; pub mod model;"),
        ("beta/routes.rs", ""),
        ("beta/model.rs", ""),
        ("store/mod.rs", ""),
    ]);
    assert_eq!(
        targets(&krate, "alpha/page.rs"),
        [
            "1:beta::routes",
            "1:beta::model",
            "1:beta::model::Thing",
            "1:store",
            "2:alpha::model",
            "3:beta::routes::show",
            "3:beta::model::x",
            "3:beta::routes::list",
            "4:alpha::page::f",
        ]
    );
}

#[test]
fn architecture_checker_ignores_paths_in_comments_and_strings() {
    let krate = analyze(&[
        (
            "alpha/mod.rs",
            "// crate::beta::one\n/* crate::beta::two /* nested */ crate::beta::three */\n\
             const S: &str = \"crate::beta::four\"; const R: &str = r#\"crate::beta::\"five\"\"#;\n\
             const C: char = '\"'; fn f<'a>(x: &'a str) -> &'a str { x }\n/// crate::beta::six\n\
             fn g() { crate::store::seven() }",
        ),
        ("beta/mod.rs", ""),
        ("store/mod.rs", ""),
    ]);
    assert_eq!(targets(&krate, "alpha/mod.rs"), ["6:store::seven"]);
}

#[test]
fn architecture_checker_flags_a_capability_importing_another_capabilitys_handlers() {
    let krate = analyze(&[
        ("alpha/mod.rs", "use crate::beta::{routes::{Shared}, model::Plain};\nfn f() { crate::beta::pages::x() }"),
        ("beta/mod.rs", "pub mod routes; pub mod model; pub mod pages;"),
        ("beta/routes.rs", "pub struct Shared;\nasync fn show(State(app): State<AppState>, c: Option<Chrome>) {}"),
        ("beta/pages.rs", "#[derive(askama::Template)]\nstruct Page;"),
        (
            "beta/model.rs",
            "pub struct Plain;\nasync fn helper(c: &Chrome) {}\nasync fn mail(tx: &mut Tx, lang: Lang) {}",
        ),
        ("web/page.rs", "pub struct Chrome;\nimpl<S> FromRequestParts<S> for Chrome {}"),
        ("i18n.rs", "pub struct Lang;\nimpl<S> FromRequestParts<S> for Lang {}"),
    ]);
    let found = rules::handler_imports(&krate, &LAYERS);
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(found[0].starts_with("alpha/mod.rs:1: `crate::beta::routes::Shared` is in beta/routes.rs"), "{}", found[0]);
    assert!(found[0].contains("handler `show` takes the extractor `State`"), "{}", found[0]);
    assert!(found[1].starts_with("alpha/mod.rs:2: `crate::beta::pages::x`"), "{}", found[1]);
    assert!(found[1].contains("derives a page Template"), "{}", found[1]);
}

#[test]
fn architecture_checker_flags_infrastructure_importing_a_capability() {
    let krate = analyze(&[
        ("alpha/mod.rs", "fn f() { crate::store::get() }"),
        ("store/mod.rs", "pub fn get() { crate::alpha::model::Kind::One; }"),
    ]);
    let found = rules::infrastructure_imports(&rules::edges(&krate, &LAYERS), &LAYERS);
    assert_eq!(found, ["store (infrastructure) imports alpha: store/mod.rs:1: `crate::alpha::model::Kind::One`"]);
}
