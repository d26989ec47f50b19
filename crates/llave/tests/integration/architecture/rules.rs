//! The three rules over the crate's top-level modules (DESIGN.md, Architecture; issue 15,
//! "Reactions instead of cross-calls"): no cycle, no capability importing another's HTTP edge
//! (routes, pages, handlers), no infrastructure module importing a capability. Each returns
//! the violations as messages naming the file, the line and the path.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use super::model::Crate;

/// How the top-level modules are layered. Anything neither a root nor a capability is
/// infrastructure.
pub struct Layers<'a> {
    /// Composition roots: they wire everything and nothing imports them; left out of the graph.
    pub roots: &'a [&'a str],
    pub capabilities: &'a [&'a str],
}

/// One import between two top-level modules.
#[derive(Debug, Clone)]
pub struct Edge {
    pub from: String,
    pub to: String,
    pub file: String,
    pub line: usize,
    pub path: String,
}

impl Edge {
    pub fn evidence(&self) -> String {
        format!("{}:{}: `{}`", self.file, self.line, self.path)
    }
}

/// Every import from one top-level module into another, roots on either side left out.
pub fn edges(krate: &Crate, layers: &Layers) -> Vec<Edge> {
    let mut edges = Vec::new();
    for file in &krate.files {
        let from = Crate::top_of_file(file);
        for reference in &file.references {
            let to = krate.top_of_target(&reference.target);
            if from == to || layers.roots.contains(&from.as_str()) || layers.roots.contains(&to.as_str()) {
                continue;
            }
            edges.push(Edge {
                from: from.clone(),
                to,
                file: file.path.clone(),
                line: reference.line,
                path: format!("crate::{}", reference.target.join("::")),
            });
        }
    }
    edges
}

/// Rule (a): one message per strongly connected group of top-level modules, with the shortest
/// cycle through its first module and the import behind each step.
pub fn cycles(edges: &[Edge]) -> Vec<String> {
    let mut graph: BTreeMap<&str, BTreeMap<&str, &Edge>> = BTreeMap::new();
    for edge in edges {
        graph.entry(&edge.from).or_default().entry(&edge.to).or_insert(edge);
        graph.entry(&edge.to).or_default();
    }
    let reach = |start: &str| -> BTreeSet<&str> {
        let mut seen = BTreeSet::new();
        let mut queue = VecDeque::from([start]);
        while let Some(node) = queue.pop_front() {
            for next in graph.get(node).into_iter().flat_map(|targets| targets.keys()) {
                if seen.insert(*next) {
                    queue.push_back(next);
                }
            }
        }
        seen
    };
    let reachable: BTreeMap<&str, BTreeSet<&str>> = graph.keys().map(|node| (*node, reach(node))).collect();
    let mut reported: BTreeSet<&str> = BTreeSet::new();
    let mut messages = Vec::new();
    for (node, from_node) in &reachable {
        if reported.contains(node) || !from_node.contains(node) {
            continue;
        }
        let group: BTreeSet<&str> = from_node.iter().copied().filter(|other| reachable[other].contains(node)).collect();
        reported.extend(group.iter().copied());
        // The shortest way back to `node` (breadth first), remembering each step's edge.
        let mut came_from: BTreeMap<&str, &Edge> = BTreeMap::new();
        let mut queue = VecDeque::from([*node]);
        'search: while let Some(current) = queue.pop_front() {
            for (next, edge) in &graph[current] {
                if !group.contains(next) || came_from.contains_key(next) {
                    continue;
                }
                came_from.insert(next, edge);
                if next == node {
                    break 'search;
                }
                queue.push_back(next);
            }
        }
        let mut steps = Vec::new();
        let mut at = *node;
        while let Some(edge) = came_from.get(at) {
            steps.push(*edge);
            at = &edge.from;
            if at == *node {
                break;
            }
        }
        steps.reverse();
        let names: Vec<&str> = steps.iter().map(|edge| edge.from.as_str()).chain([*node]).collect();
        let mut message = format!(
            "cycle {} (modules in this cycle group: {})",
            names.join(" → "),
            group.iter().copied().collect::<Vec<_>>().join(", ")
        );
        for edge in steps {
            message.push_str(&format!("\n    {} → {}: {}", edge.from, edge.to, edge.evidence()));
        }
        messages.push(message);
    }
    messages
}

/// Rule (b): a capability imports nothing from another capability's handler modules.
pub fn handler_imports(krate: &Crate, layers: &Layers) -> Vec<String> {
    let mut messages = Vec::new();
    for file in &krate.files {
        let from = Crate::top_of_file(file);
        if !layers.capabilities.contains(&from.as_str()) {
            continue;
        }
        for reference in &file.references {
            let to = krate.top_of_target(&reference.target);
            if to == from || !layers.capabilities.contains(&to.as_str()) {
                continue;
            }
            let Some(target_file) = krate.file_of_target(&reference.target) else { continue };
            if let Some(reason) = &target_file.handler {
                messages.push(format!(
                    "{}:{}: `crate::{}` is in {}, a handler module of `{to}` ({reason})",
                    file.path,
                    reference.line,
                    reference.target.join("::"),
                    target_file.path,
                ));
            }
        }
    }
    messages
}

/// Rule (c): infrastructure imports no capability.
pub fn infrastructure_imports(edges: &[Edge], layers: &Layers) -> Vec<String> {
    edges
        .iter()
        .filter(|edge| {
            !layers.capabilities.contains(&edge.from.as_str()) && layers.capabilities.contains(&edge.to.as_str())
        })
        .map(|edge| format!("{} (infrastructure) imports {}: {}", edge.from, edge.to, edge.evidence()))
        .collect()
}
