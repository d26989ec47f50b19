//! What the module-graph check knows about the crate: every file's module, whether it is a
//! handler module (it defines an axum handler, a route table or a page template), and every
//! path it writes that names a module of the crate, resolved to an absolute module path —
//! `crate::…`, `super::…`, `self::…`, nested `use` groups, `as` renames, and paths that start
//! with a module imported by an earlier `use`.

use std::collections::{BTreeSet, HashMap};

use super::lexer::{Located, Token, tokens};

/// One path that names an item or module of the crate.
#[derive(Debug, Clone)]
pub struct Reference {
    pub line: usize,
    /// Resolved, from the crate root: `["accounts", "routes", "security_view"]`.
    pub target: Vec<String>,
}

#[derive(Debug)]
pub struct File {
    /// Relative to `src/`: `accounts/routes.rs`.
    pub path: String,
    /// `["accounts", "routes"]`; empty for `lib.rs` and `main.rs`.
    pub module: Vec<String>,
    /// Why the file counts as a handler module (an HTTP edge), if it does.
    pub handler: Option<String>,
    pub references: Vec<Reference>,
}

#[derive(Debug)]
pub struct Crate {
    pub files: Vec<File>,
    /// Every module a file defines, and their ancestors.
    pub modules: BTreeSet<Vec<String>>,
}

impl Crate {
    /// Reads `(path relative to src/, source)` pairs.
    pub fn analyze(sources: &[(String, String)]) -> Crate {
        let mut modules = BTreeSet::new();
        for (path, _) in sources {
            let module = module_of(path);
            for end in 1..=module.len() {
                modules.insert(module[..end].to_vec());
            }
        }
        let lexed: Vec<Vec<Located>> = sources.iter().map(|(_, source)| tokens(source)).collect();
        let mut extractors: BTreeSet<String> = BTreeSet::from(["State".to_string()]);
        for file in &lexed {
            extractors.extend(extractor_types(file));
        }
        let files = sources
            .iter()
            .zip(&lexed)
            .map(|((path, _), file)| {
                let module = module_of(path);
                let references = References::collect(file, &module, &modules);
                File { path: path.clone(), handler: handler_reason(file, &extractors), module, references }
            })
            .collect();
        Crate { files, modules }
    }

    /// The top-level module a file belongs to: `accounts`, or `lib`/`main` for the roots.
    pub fn top_of_file(file: &File) -> String {
        match file.module.first() {
            Some(top) => top.clone(),
            None => file.path.trim_end_matches(".rs").to_string(),
        }
    }

    /// The top-level module a path names; an item of the crate root belongs to `lib`.
    pub fn top_of_target(&self, target: &[String]) -> String {
        match target.first() {
            Some(top) if self.modules.contains(&vec![top.clone()]) => top.clone(),
            _ => "lib".to_string(),
        }
    }

    /// The file that defines the module a path names (its longest prefix that is a file's module).
    pub fn file_of_target(&self, target: &[String]) -> Option<&File> {
        (1..=target.len()).rev().find_map(|end| self.files.iter().find(|file| file.module == target[..end]))
    }
}

/// `accounts/routes.rs` → `accounts::routes`; `records/file/mod.rs` → `records::file`.
pub fn module_of(path: &str) -> Vec<String> {
    let stem = path.trim_end_matches(".rs");
    let mut parts: Vec<String> = stem.split('/').map(str::to_string).collect();
    if parts.last().is_some_and(|last| last == "mod") || parts == ["lib"] || parts == ["main"] {
        parts.pop();
    }
    parts
}

fn ident(tokens: &[Located], index: usize) -> Option<&str> {
    match tokens.get(index).map(|t| &t.token) {
        Some(Token::Ident(word)) => Some(word),
        _ => None,
    }
}

fn is(tokens: &[Located], index: usize, punct: &str) -> bool {
    matches!(tokens.get(index).map(|t| &t.token), Some(Token::Punct(p)) if *p == punct)
}

fn is_other(tokens: &[Located], index: usize, c: char) -> bool {
    matches!(tokens.get(index).map(|t| &t.token), Some(Token::Other(o)) if *o == c)
}

/// Types with an `impl FromRequestParts`/`FromRequest`/`OptionalFromRequestParts … for Type`.
fn extractor_types(tokens: &[Located]) -> Vec<String> {
    let mut found = Vec::new();
    for (index, token) in tokens.iter().enumerate() {
        if token.token != Token::Ident("impl".into()) {
            continue;
        }
        let Some(for_at) = (index..tokens.len().min(index + 40)).find(|&i| ident(tokens, i) == Some("for")) else {
            continue;
        };
        let extracts = (index..for_at)
            .any(|i| matches!(ident(tokens, i), Some("FromRequestParts" | "FromRequest" | "OptionalFromRequestParts")));
        if let (true, Some(name)) = (extracts, ident(tokens, for_at + 1)) {
            found.push(name.to_string());
        }
    }
    found
}

/// A file is a handler module when it defines an `async fn` taking an extractor by value, a
/// function returning a `Router`, or derives a page `Template`.
fn handler_reason(tokens: &[Located], extractors: &BTreeSet<String>) -> Option<String> {
    for index in 0..tokens.len() {
        match ident(tokens, index) {
            Some("derive") if is(tokens, index + 1, "(") => {
                let end = (index..tokens.len()).find(|&i| is(tokens, i, ")")).unwrap_or(tokens.len());
                if (index..end).any(|i| ident(tokens, i) == Some("Template")) {
                    return Some(format!("line {}: derives a page Template", tokens[index].line));
                }
            }
            Some("fn") => {
                let Some(name) = ident(tokens, index + 1) else { continue };
                let is_async = index > 0 && ident(tokens, index - 1) == Some("async");
                let (params, after) = parameters(tokens, index + 2);
                let line = tokens[index].line;
                if is_async && let Some(extractor) = handler_extractor(&params, extractors) {
                    return Some(format!("line {line}: handler `{name}` takes the extractor `{extractor}`"));
                }
                if is_other(tokens, after, '-') {
                    let returns_router = (after..tokens.len().min(after + 8))
                        .take_while(|&i| {
                            !is(tokens, i, "{") && !is(tokens, i, ";") && ident(tokens, i) != Some("where")
                        })
                        .any(|i| ident(tokens, i) == Some("Router"));
                    if returns_router {
                        return Some(format!("line {line}: `{name}` builds a Router"));
                    }
                }
            }
            _ => {}
        }
    }
    None
}

/// The parameters (each a token slice) of the `fn` whose generics or `(` start at `index`,
/// and the index after the closing `)`.
fn parameters(tokens: &[Located], mut index: usize) -> (Vec<&[Located]>, usize) {
    if is(tokens, index, "<") {
        let mut depth = 0;
        while index < tokens.len() {
            if is(tokens, index, "<") {
                depth += 1;
            } else if is(tokens, index, ">") {
                depth -= 1;
                if depth == 0 {
                    index += 1;
                    break;
                }
            }
            index += 1;
        }
    }
    if !is(tokens, index, "(") {
        return (Vec::new(), index);
    }
    let mut params = Vec::new();
    let (mut depth, mut start) = (0, index + 1);
    while index < tokens.len() {
        if is(tokens, index, "(") || is(tokens, index, "<") || is(tokens, index, "{") {
            depth += 1;
        } else if is(tokens, index, ")") || is(tokens, index, ">") || is(tokens, index, "}") {
            depth -= 1;
            if depth == 0 {
                params.push(&tokens[start..index]);
                return (params, index + 1);
            }
        } else if depth == 1 && is(tokens, index, ",") {
            params.push(&tokens[start..index]);
            start = index + 1;
        }
        index += 1;
    }
    (params, index)
}

/// Extractors axum itself provides, which a handler may take besides the crate's own.
const AXUM_EXTRACTORS: [&str; 16] = [
    "State",
    "Path",
    "Query",
    "Form",
    "Json",
    "Multipart",
    "HeaderMap",
    "ConnectInfo",
    "Extension",
    "OriginalUri",
    "Uri",
    "Method",
    "Bytes",
    "String",
    "Request",
    "MatchedPath",
];

/// An axum handler: every parameter is an extractor taken by value, and one of them is
/// `State` or one of the crate's own (`SignedIn`, `Chrome`, `CsrfForm`…). A helper that takes
/// `&Chrome`, or a `Lang` next to a transaction, is not a handler. Returns the telling extractor.
fn handler_extractor(params: &[&[Located]], extractors: &BTreeSet<String>) -> Option<String> {
    let mut telling = None;
    for param in params {
        let head = by_value_type(param)?;
        if extractors.contains(&head) {
            telling.get_or_insert(head);
        } else if !AXUM_EXTRACTORS.contains(&head.as_str()) {
            return None;
        }
    }
    telling
}

/// `State(app): State<AppState>` → `State`; `user: Option<SignedIn>` → `SignedIn`;
/// `c: &Chrome` → `None`.
fn by_value_type(param: &[Located]) -> Option<String> {
    // The type starts after the last top-level `:` of the pattern (`::` is its own token).
    let colon = param.iter().rposition(|t| t.token == Token::Other(':'))?;
    let mut index = colon + 1;
    if is_other(param, index, '&') {
        return None;
    }
    loop {
        let word = ident(param, index)?;
        // A path segment (`axum::extract::`), or a wrapper whose argument is the extractor.
        let wrapper = matches!(word, "Option" | "Result") && is(param, index + 1, "<");
        if is(param, index + 1, "::") || wrapper {
            index += 2;
        } else {
            return Some(word.to_string());
        }
    }
}

/// Walks one file's tokens, keeping the module scope (inline `mod x { … }` included).
struct References<'a> {
    modules: &'a BTreeSet<Vec<String>>,
    /// Names brought in by `use` that stand for a module of the crate.
    aliases: HashMap<String, Vec<String>>,
    found: Vec<Reference>,
}

impl<'a> References<'a> {
    fn collect(tokens: &[Located], module: &[String], modules: &'a BTreeSet<Vec<String>>) -> Vec<Reference> {
        let mut walk = References { modules, aliases: HashMap::new(), found: Vec::new() };
        let mut scopes: Vec<(Vec<String>, usize)> = vec![(module.to_vec(), 0)];
        let mut depth = 0;
        let mut index = 0;
        while index < tokens.len() {
            let scope = scopes.last().map(|(m, _)| m.clone()).unwrap_or_default();
            if ident(tokens, index) == Some("mod")
                && let Some(name) = ident(tokens, index + 1)
                && is(tokens, index + 2, "{")
            {
                depth += 1;
                scopes.push(([scope.as_slice(), &[name.to_string()]].concat(), depth));
                index += 3;
            } else if is(tokens, index, "{") {
                depth += 1;
                index += 1;
            } else if is(tokens, index, "}") {
                if scopes.len() > 1 && scopes.last().is_some_and(|(_, d)| *d == depth) {
                    scopes.pop();
                }
                depth -= 1;
                index += 1;
            } else if ident(tokens, index) == Some("use") {
                index = walk.use_statement(tokens, index + 1, &scope);
            } else if ident(tokens, index).is_some()
                && is(tokens, index + 1, "::")
                && !is(tokens, index.wrapping_sub(1), "::")
            {
                index = walk.inline_path(tokens, index, &scope);
            } else {
                index += 1;
            }
        }
        walk.found
    }

    /// A path written in code (`crate::a::b(…)`, `super::x`, `routes::y`): recorded when it
    /// resolves to the crate.
    fn inline_path(&mut self, tokens: &[Located], mut index: usize, scope: &[String]) -> usize {
        let line = tokens[index].line;
        let mut written = Vec::new();
        while let Some(word) = ident(tokens, index) {
            written.push(word.to_string());
            if is(tokens, index + 1, "::") && ident(tokens, index + 2).is_some() {
                index += 2;
            } else {
                index += 1;
                break;
            }
        }
        if let Some(target) = self.resolve(&written, scope) {
            self.found.push(Reference { line, target });
        }
        index
    }

    /// `use` tree up to its `;`.
    fn use_statement(&mut self, tokens: &[Located], index: usize, scope: &[String]) -> usize {
        let mut leaves = Vec::new();
        let mut index = use_tree(tokens, index, Vec::new(), &mut leaves);
        while index < tokens.len() && !is(tokens, index, ";") {
            index += 1;
        }
        for (mut written, alias, line) in leaves {
            let glob = written.last().is_some_and(|last| last == "*");
            if glob || written.last().is_some_and(|last| last == "self") {
                written.pop();
            }
            let Some(target) = self.resolve(&written, scope) else { continue };
            if !glob && self.modules.contains(&target) {
                let name = alias.or_else(|| target.last().cloned());
                if let Some(name) = name {
                    self.aliases.insert(name, target.clone());
                }
            }
            self.found.push(Reference { line, target });
        }
        index + 1
    }

    /// The absolute path of `written`, or `None` when it names no module of the crate (another
    /// crate, a local variable's method, an enum variant…).
    fn resolve(&self, written: &[String], scope: &[String]) -> Option<Vec<String>> {
        let first = written.first()?;
        let (base, rest): (Vec<String>, &[String]) = match first.as_str() {
            "crate" => (Vec::new(), &written[1..]),
            "self" => (scope.to_vec(), &written[1..]),
            "super" => {
                let mut base = scope.to_vec();
                let mut rest = written;
                while rest.first().is_some_and(|s| s == "super") {
                    base.pop();
                    rest = &rest[1..];
                }
                (base, rest)
            }
            name => {
                if let Some(target) = self.aliases.get(name) {
                    (target.clone(), &written[1..])
                } else if self.modules.contains(&[scope, &written[..1]].concat()) {
                    (scope.to_vec(), written)
                } else {
                    return None;
                }
            }
        };
        Some([base.as_slice(), rest].concat())
    }
}

/// One `use` tree: pushes `(path, rename, line)` for each leaf; returns the index after it.
fn use_tree(
    tokens: &[Located],
    mut index: usize,
    prefix: Vec<String>,
    leaves: &mut Vec<(Vec<String>, Option<String>, usize)>,
) -> usize {
    let mut path = prefix;
    if is(tokens, index, "::") {
        index += 1;
    }
    loop {
        if let Some(word) = ident(tokens, index) {
            path.push(word.to_string());
            let line = tokens[index].line;
            index += 1;
            if is(tokens, index, "::") {
                index += 1;
                continue;
            }
            let mut alias = None;
            if ident(tokens, index) == Some("as") {
                alias = ident(tokens, index + 1).map(str::to_string);
                index += 2;
            }
            leaves.push((path, alias, line));
            return index;
        } else if is_other(tokens, index, '*') {
            let line = tokens[index].line;
            path.push("*".to_string());
            leaves.push((path, None, line));
            return index + 1;
        } else if is(tokens, index, "{") {
            index += 1;
            while index < tokens.len() && !is(tokens, index, "}") {
                let before = index;
                index = use_tree(tokens, index, path.clone(), leaves);
                if is(tokens, index, ",") || index == before {
                    index += 1;
                }
            }
            return index + 1;
        } else {
            return index;
        }
    }
}
