//! Spanish search over the catalog, in memory: words lower-cased, accents removed, stop
//! words dropped and stemmed with the Snowball Spanish stemmer, so "licencias" finds
//! "Licencia de conducir" and "tramite agua" finds the water bill. A procedure scores by
//! where each query word appears (name and synonyms, tags, requirements, description); words
//! that match nothing are ignored rather than excluding everything. A procedure whose name,
//! synonyms, topic or entity matches comes before every one that matches only in what it
//! asks for or its description: searching "pasaporte" must not put the driver's licence
//! (which accepts a passport as ID) first.

use std::collections::HashMap;

use rust_stemmers::{Algorithm, Stemmer};

use super::model::Procedure;

/// Words too common to tell procedures apart.
const STOP_WORDS: &[&str] = &[
    "a", "al", "ante", "con", "de", "del", "el", "en", "la", "las", "lo", "los", "mi", "para", "por", "que", "se",
    "su", "sus", "un", "una", "unos", "unas", "y", "o", "u", "e", "the", "of", "for", "and", "tramite", "tramites",
];

/// Field weights: a word in the name counts most.
const NAME: f32 = 5.0;
const TAGS: f32 = 3.0;
const ENTITY: f32 = 2.0;
const REQUIREMENTS: f32 = 1.5;
const DESCRIPTION: f32 = 1.0;

fn fold(c: char) -> char {
    match c {
        'á' | 'à' | 'ä' | 'â' | 'Á' | 'À' | 'Ä' | 'Â' => 'a',
        'é' | 'è' | 'ë' | 'ê' | 'É' | 'È' | 'Ë' | 'Ê' => 'e',
        'í' | 'ì' | 'ï' | 'î' | 'Í' | 'Ì' | 'Ï' | 'Î' => 'i',
        'ó' | 'ò' | 'ö' | 'ô' | 'Ó' | 'Ò' | 'Ö' | 'Ô' => 'o',
        'ú' | 'ù' | 'ü' | 'û' | 'Ú' | 'Ù' | 'Ü' | 'Û' => 'u',
        'ñ' | 'Ñ' => 'n',
        other => other.to_ascii_lowercase(),
    }
}

/// The search terms of a text: folded, stop words out, stemmed.
pub fn terms(text: &str) -> Vec<String> {
    let stemmer = Stemmer::create(Algorithm::Spanish);
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(|word| word.chars().map(fold).collect::<String>())
        .filter(|word| !STOP_WORDS.contains(&word.as_str()))
        .map(|word| stemmer.stem(&word).into_owned())
        .filter(|stem| !stem.is_empty())
        .collect()
}

/// A search index over a set of procedures.
pub struct Index {
    /// term → (document, weight)
    postings: HashMap<String, Vec<(usize, f32)>>,
    documents: usize,
}

impl Index {
    pub fn build(procedures: &[Procedure], entity_names: &HashMap<String, String>) -> Index {
        let mut postings: HashMap<String, Vec<(usize, f32)>> = HashMap::new();
        for (doc, p) in procedures.iter().enumerate() {
            let mut weights: HashMap<String, f32> = HashMap::new();
            let mut add = |text: &str, weight: f32| {
                for term in terms(text) {
                    let w = weights.entry(term).or_default();
                    *w = w.max(weight);
                }
            };
            add(&p.name, NAME);
            for synonym in &p.synonyms {
                add(synonym, NAME);
            }
            for variant in &p.variants {
                add(&variant.name, NAME);
            }
            add(&p.tags.join(" "), TAGS);
            add(&p.entity, ENTITY);
            if let Some(name) = entity_names.get(&p.entity) {
                add(name, ENTITY);
            }
            for requirement in &p.requirements {
                add(&requirement.description, REQUIREMENTS);
            }
            add(&p.description, DESCRIPTION);
            for (term, weight) in weights {
                postings.entry(term).or_default().push((doc, weight));
            }
        }
        Index { postings, documents: procedures.len() }
    }

    /// Documents matching the query, best first, with their scores. Each query term adds
    /// its field weight times its rarity (idf); prefix matches of the last word count too,
    /// so a search box can answer while the person types.
    pub fn search(&self, query: &str, limit: usize) -> Vec<(usize, f32)> {
        let query_terms = terms(query);
        // (score, terms matched, whether a name, synonym, topic or entity matched)
        let mut scores: HashMap<usize, (f32, usize, bool)> = HashMap::new();
        for (n, term) in query_terms.iter().enumerate() {
            let last = n + 1 == query_terms.len();
            let mut matched: Vec<(&String, &Vec<(usize, f32)>)> = Vec::new();
            if let Some((key, list)) = self.postings.get_key_value(term) {
                matched.push((key, list));
            } else if last && term.chars().count() >= 3 {
                matched.extend(self.postings.iter().filter(|(key, _)| key.starts_with(term.as_str())));
            }
            for (_, list) in matched {
                let idf = (1.0 + self.documents as f32 / list.len() as f32).ln();
                for &(doc, weight) in list {
                    let entry = scores.entry(doc).or_default();
                    entry.0 += weight * idf;
                    entry.1 += 1;
                    entry.2 |= weight > REQUIREMENTS;
                }
            }
        }
        let mut ranked: Vec<(usize, f32, bool)> =
            scores.into_iter().map(|(doc, (score, hits, about))| (doc, score * (1.0 + hits as f32), about)).collect();
        ranked.sort_by(|a, b| b.2.cmp(&a.2).then(b.1.total_cmp(&a.1)).then(a.0.cmp(&b.0)));
        ranked.truncate(limit);
        ranked.into_iter().map(|(doc, score, _)| (doc, score)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::model::tests::licencia;
    use crate::catalog::model::{Cost, Procedure};

    fn agua() -> Procedure {
        let mut p = licencia();
        p.slug = "pago-agua".into();
        p.entity = "sacmex".into();
        p.name = "Pago de derechos por el suministro de agua".into();
        p.description = "Paga tu boleta bimestral de agua potable.".into();
        p.requirements.clear();
        p.variants.clear();
        p.tags = vec!["agua".into(), "pagos".into()];
        p.cost = Cost::Rule { text: "Según consumo".into() };
        p
    }

    fn index() -> (Vec<Procedure>, Index) {
        let procedures = vec![licencia(), agua()];
        let names = HashMap::from([
            ("semovi".to_string(), "Secretaría de Movilidad".to_string()),
            ("sacmex".to_string(), "Sistema de Aguas de la Ciudad de México".to_string()),
        ]);
        let index = Index::build(&procedures, &names);
        (procedures, index)
    }

    #[test]
    fn accents_case_and_plurals_do_not_matter() {
        assert_eq!(terms("Licencias de CONDUCIR"), terms("licencia conducir"));
        assert_eq!(terms("trámite"), Vec::<String>::new());
        assert_eq!(terms("Niño"), terms("nino"));
    }

    #[test]
    fn spanish_queries_find_what_people_mean() {
        let (procedures, index) = index();
        let first = |q: &str| index.search(q, 5).first().map(|(doc, _)| procedures[*doc].slug.clone());
        assert_eq!(first("licencias").as_deref(), Some("licencia-de-conducir-a"));
        assert_eq!(first("tramite agua").as_deref(), Some("pago-agua"));
        assert_eq!(first("Licencia de Conducir").as_deref(), Some("licencia-de-conducir-a"));
        assert_eq!(first("licen").as_deref(), Some("licencia-de-conducir-a"), "a prefix while typing");
        assert_eq!(first("aguas").as_deref(), Some("pago-agua"));
        assert!(index.search("zzzz", 5).is_empty());
        assert!(index.search("", 5).is_empty());
        assert!(index.search("de la y", 5).is_empty(), "stop words alone find nothing");
    }

    #[test]
    fn what_a_procedure_is_about_outranks_what_it_asks_for() {
        let mut licence = licencia();
        licence.requirements[0].description = "Pasaporte vigente o boleta de agua como comprobante".into();
        licence.synonyms = vec!["licencia de manejo".into()];
        let mut passport = agua();
        passport.slug = "pasaporte".into();
        passport.name = "Cita para tramitar el pasaporte mexicano".into();
        passport.tags = vec!["identidad".into()];
        passport.description = "Oficina de enlace con la Secretaría de Relaciones Exteriores.".into();
        let procedures = vec![licence, agua(), passport];
        let index = Index::build(&procedures, &HashMap::new());
        let slugs =
            |q: &str| index.search(q, 5).iter().map(|(doc, _)| procedures[*doc].slug.clone()).collect::<Vec<_>>();
        assert_eq!(
            slugs("pasaporte"),
            ["pasaporte", "licencia-de-conducir-a"],
            "the name first, the requirement after"
        );
        assert_eq!(slugs("agua"), ["pago-agua", "licencia-de-conducir-a"]);
        assert_eq!(
            slugs("licencia de manejo").first().map(String::as_str),
            Some("licencia-de-conducir-a"),
            "a synonym"
        );
        assert_eq!(slugs("manejo"), ["licencia-de-conducir-a"]);
    }
}
