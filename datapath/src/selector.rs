//! Kubernetes label selectors: the syntax rules of keys and values, the
//! matching semantics, and an index that evaluates a selector against many
//! label sets at once.
//!
//! Semantics are `metav1.LabelSelector`'s: every `matchLabels` pair and
//! every `matchExpressions` requirement must hold; `NotIn` and
//! `DoesNotExist` match objects without the key; an empty selector matches
//! everything. Whether an *absent* selector selects anything is the
//! caller's business (for `appliedTo` it selects nothing).
//!
//! [`LabelIndex`] answers a selector with a [`Bitset`] over the indexed
//! objects, at a cost proportional to the objects that carry the selector's
//! keys rather than to all objects times all selectors.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::api::{LabelSelector, Operator};
pub use crate::bitset::Bitset;

/// The pattern Kubernetes (and Antrea's CRD) imposes on label values.
pub const LABEL_VALUE_PATTERN: &str = "^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$";

const NAME_MAX: usize = 63;
const PREFIX_MAX: usize = 253;

/// Whether `s` matches [`LABEL_VALUE_PATTERN`] (length is not part of it).
pub fn matches_label_value_pattern(s: &str) -> bool {
    s.is_empty() || is_name_part(s)
}

/// `[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?`
fn is_name_part(s: &str) -> bool {
    let bytes = s.as_bytes();
    let (Some(first), Some(last)) = (bytes.first(), bytes.last()) else { return false };
    first.is_ascii_alphanumeric()
        && last.is_ascii_alphanumeric()
        && bytes.iter().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// A DNS-1123 subdomain: lowercase labels of letters, digits and `-`,
/// joined by dots, at most 253 characters.
pub fn is_dns_subdomain(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= PREFIX_MAX
        && s.split('.').all(|label| {
            let b = label.as_bytes();
            match (b.first(), b.last()) {
                (Some(f), Some(l)) => {
                    (f.is_ascii_lowercase() || f.is_ascii_digit())
                        && (l.is_ascii_lowercase() || l.is_ascii_digit())
                        && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
                }
                _ => false,
            }
        })
}

/// Checks a label key (`[prefix/]name`), as Kubernetes' `IsQualifiedName`.
///
/// # Errors
/// The rule the key breaks, phrased for a user.
pub fn check_label_key(key: &str) -> Result<(), String> {
    let (prefix, name) = match key.split_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    if let Some(prefix) = prefix
        && !is_dns_subdomain(prefix)
    {
        return Err(format!(
            "{key:?} has an invalid prefix {prefix:?}: it must be a lowercase DNS subdomain of at most {PREFIX_MAX} characters"
        ));
    }
    if name.len() > NAME_MAX {
        return Err(format!("{key:?} has a name of {} characters, the limit is {NAME_MAX}", name.len()));
    }
    if !is_name_part(name) {
        return Err(format!(
            "{key:?} is not a valid label key: the name must start and end with a letter or digit, with only letters, digits, '-', '_' and '.' between (an optional DNS prefix ends with '/')"
        ));
    }
    Ok(())
}

/// Checks a label value, as Kubernetes' `IsValidLabelValue`.
///
/// # Errors
/// The rule the value breaks, phrased for a user.
pub fn check_label_value(value: &str) -> Result<(), String> {
    if value.len() > NAME_MAX {
        return Err(format!("{value:?} is {} characters long, the limit is {NAME_MAX}", value.len()));
    }
    if !matches_label_value_pattern(value) {
        return Err(format!(
            "{value:?} is not a valid label value: it must be empty or start and end with a letter or digit, with only letters, digits, '-', '_' and '.' between"
        ));
    }
    Ok(())
}

/// One requirement of a compiled selector.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Requirement {
    /// The key is present with one of these values.
    In(String, BTreeSet<String>),
    /// The key is absent or its value is none of these.
    NotIn(String, BTreeSet<String>),
    /// The key is present.
    Exists(String),
    /// The key is absent.
    DoesNotExist(String),
}

/// A label selector reduced to requirements, all of which must hold. No
/// requirements matches everything.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Selector {
    requirements: Vec<Requirement>,
}

impl Selector {
    /// Compiles a (valid) label selector.
    pub fn compile(selector: &LabelSelector) -> Self {
        let mut requirements: Vec<Requirement> = selector
            .match_labels
            .iter()
            .flatten()
            .map(|(k, v)| Requirement::In(k.clone(), BTreeSet::from([v.clone()])))
            .collect();
        for expression in selector.match_expressions.iter().flatten() {
            let key = expression.key.clone();
            let values = || expression.values.iter().flatten().cloned().collect();
            requirements.push(match expression.operator {
                Operator::In => Requirement::In(key, values()),
                Operator::NotIn => Requirement::NotIn(key, values()),
                Operator::Exists => Requirement::Exists(key),
                Operator::DoesNotExist => Requirement::DoesNotExist(key),
            });
        }
        requirements.sort();
        requirements.dedup();
        Selector { requirements }
    }

    /// A selector from requirements (e.g. parsed from Kubernetes' string
    /// syntax `app=web,tier notin (db)`).
    pub fn from_requirements(mut requirements: Vec<Requirement>) -> Self {
        requirements.sort();
        requirements.dedup();
        Selector { requirements }
    }

    /// Whether the selector matches these labels.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.requirements.iter().all(|requirement| match requirement {
            Requirement::In(key, values) => labels.get(key).is_some_and(|v| values.contains(v)),
            Requirement::NotIn(key, values) => labels.get(key).is_none_or(|v| !values.contains(v)),
            Requirement::Exists(key) => labels.contains_key(key),
            Requirement::DoesNotExist(key) => !labels.contains_key(key),
        })
    }

    /// The requirements, sorted.
    pub fn requirements(&self) -> &[Requirement] {
        &self.requirements
    }
}

/// Label sets indexed by key and value, for evaluating many selectors.
pub struct LabelIndex<'a> {
    len: usize,
    keys: HashMap<&'a str, KeyEntry<'a>>,
}

struct KeyEntry<'a> {
    present: Bitset,
    values: HashMap<&'a str, Bitset>,
}

impl<'a> LabelIndex<'a> {
    /// Indexes `label_sets`; index `i` of a result stands for the `i`-th set.
    pub fn new<I>(label_sets: I) -> Self
    where
        I: IntoIterator<Item = &'a BTreeMap<String, String>>,
        I::IntoIter: ExactSizeIterator,
    {
        let label_sets = label_sets.into_iter();
        let len = label_sets.len();
        let mut keys: HashMap<&str, KeyEntry> = HashMap::new();
        for (i, labels) in label_sets.enumerate() {
            for (key, value) in labels {
                let entry = keys
                    .entry(key)
                    .or_insert_with(|| KeyEntry { present: Bitset::empty(len), values: HashMap::new() });
                entry.present.insert(i);
                entry.values.entry(value).or_insert_with(|| Bitset::empty(len)).insert(i);
            }
        }
        LabelIndex { len, keys }
    }

    /// The number of indexed label sets.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is indexed.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The label sets the selector matches.
    pub fn select(&self, selector: &Selector) -> Bitset {
        let mut result = Bitset::full(self.len);
        for requirement in selector.requirements() {
            match requirement {
                Requirement::In(key, values) => result.intersect(&self.with_values(key, values)),
                Requirement::NotIn(key, values) => result.subtract(&self.with_values(key, values)),
                Requirement::Exists(key) => match self.keys.get(key.as_str()) {
                    Some(entry) => result.intersect(&entry.present),
                    None => return Bitset::empty(self.len),
                },
                Requirement::DoesNotExist(key) => {
                    if let Some(entry) = self.keys.get(key.as_str()) {
                        result.subtract(&entry.present);
                    }
                }
            }
            if result.is_empty() {
                break;
            }
        }
        result
    }

    fn with_values(&self, key: &str, values: &BTreeSet<String>) -> Bitset {
        let mut set = Bitset::empty(self.len);
        if let Some(entry) = self.keys.get(key) {
            for value in values {
                if let Some(members) = entry.values.get(value.as_str()) {
                    set.union(members);
                }
            }
        }
        set
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::LabelSelectorRequirement;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn expr(key: &str, operator: Operator, values: Option<&[&str]>) -> LabelSelectorRequirement {
        LabelSelectorRequirement {
            key: key.into(),
            operator,
            values: values.map(|v| v.iter().map(|s| s.to_string()).collect()),
        }
    }

    fn selector(match_labels: &[(&str, &str)], exprs: Vec<LabelSelectorRequirement>) -> Selector {
        Selector::compile(&LabelSelector {
            match_labels: (!match_labels.is_empty()).then(|| labels(match_labels)),
            match_expressions: (!exprs.is_empty()).then_some(exprs),
        })
    }

    /// Every selector is checked both ways (direct and indexed) on the same
    /// label sets, so the fast path can never disagree with the definition.
    fn assert_selects(sel: &Selector, sets: &[BTreeMap<String, String>], expected: &[usize]) {
        let direct: Vec<usize> = (0..sets.len()).filter(|&i| sel.matches(&sets[i])).collect();
        let indexed: Vec<usize> = LabelIndex::new(sets).select(sel).iter().collect();
        assert_eq!(direct, expected, "direct evaluation of {sel:?}");
        assert_eq!(indexed, expected, "indexed evaluation of {sel:?}");
    }

    fn sample() -> Vec<BTreeMap<String, String>> {
        vec![
            labels(&[("app", "web"), ("tier", "front")]),
            labels(&[("app", "db")]),
            labels(&[]),
            labels(&[("app", "web"), ("env", "prod")]),
        ]
    }

    #[test]
    fn an_empty_selector_matches_everything() {
        assert_selects(&selector(&[], vec![]), &sample(), &[0, 1, 2, 3]);
    }

    #[test]
    fn match_labels_require_every_pair() {
        assert_selects(&selector(&[("app", "web")], vec![]), &sample(), &[0, 3]);
        assert_selects(&selector(&[("app", "web"), ("env", "prod")], vec![]), &sample(), &[3]);
        assert_selects(&selector(&[("app", "cache")], vec![]), &sample(), &[]);
    }

    #[test]
    fn in_matches_any_listed_value() {
        assert_selects(
            &selector(&[], vec![expr("app", Operator::In, Some(&["web", "db"]))]),
            &sample(),
            &[0, 1, 3],
        );
    }

    #[test]
    fn not_in_matches_objects_without_the_key() {
        assert_selects(
            &selector(&[], vec![expr("app", Operator::NotIn, Some(&["web"]))]),
            &sample(),
            &[1, 2],
        );
    }

    #[test]
    fn exists_and_does_not_exist_look_only_at_the_key() {
        assert_selects(&selector(&[], vec![expr("env", Operator::Exists, None)]), &sample(), &[3]);
        assert_selects(
            &selector(&[], vec![expr("env", Operator::DoesNotExist, None)]),
            &sample(),
            &[0, 1, 2],
        );
        assert_selects(&selector(&[], vec![expr("nowhere", Operator::Exists, None)]), &sample(), &[]);
        assert_selects(
            &selector(&[], vec![expr("nowhere", Operator::DoesNotExist, None)]),
            &sample(),
            &[0, 1, 2, 3],
        );
    }

    #[test]
    fn labels_and_expressions_combine_with_and() {
        let sel = selector(&[("app", "web")], vec![expr("tier", Operator::NotIn, Some(&["front"]))]);
        assert_selects(&sel, &sample(), &[3]);
    }

    #[test]
    fn in_with_no_values_matches_nothing_and_not_in_with_none_matches_all() {
        assert_selects(&selector(&[], vec![expr("app", Operator::In, Some(&[]))]), &sample(), &[]);
        assert_selects(&selector(&[], vec![expr("app", Operator::NotIn, None)]), &sample(), &[0, 1, 2, 3]);
    }

    #[test]
    fn label_keys_follow_kubernetes_rules() {
        for good in ["app", "kubernetes.io/metadata.name", "a", "A_b-c.d", "x.example.com/Name9"] {
            assert!(check_label_key(good).is_ok(), "{good}");
        }
        let long_name = "a".repeat(64);
        let long_prefix = format!("{}/a", "a".repeat(254));
        for bad in [
            "",
            "-app",
            "app-",
            "a/b/c",
            "Upper.Case/x",
            "/name",
            "prefix/",
            "sp ace",
            &long_name,
            &long_prefix,
        ] {
            assert!(check_label_key(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn label_values_follow_kubernetes_rules() {
        for good in ["", "web", "v1.2_3-x", &"a".repeat(63)] {
            assert!(check_label_value(good).is_ok(), "{good}");
        }
        for bad in ["-web", "web-", "a b", "a/b", &"a".repeat(64)] {
            assert!(check_label_value(bad).is_err(), "{bad:?} should be refused");
        }
    }
}
