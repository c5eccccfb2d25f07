//! The rules of `compat risk` (`risk-rules.toml`): each rule's stable id, the level it sets and
//! what it means, with the thresholds (`days`, `minors`) and the local alternatives to an
//! external service as data. When a rule fires is code (`crate::risk`); what it weighs is here.
//!
//! The table must name every rule of [`RiskRuleId`] exactly once, and each rule its threshold:
//! a rule missing from the table would otherwise never fire, silently.

use serde::{Deserialize, Serialize};
use toml::Spanned;

use super::table::Table;
use super::KnowledgeError;
use crate::model::verdict::RiskLevel;

pub(super) const FILE: &str = "risk-rules.toml";

/// The rules compat applies to risk rows; the ids are the table's and the report's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum RiskRuleId {
    #[serde(rename = "installed-below-matrix")]
    InstalledBelowMatrix,
    #[serde(rename = "yanked-installed")]
    YankedInstalled,
    #[serde(rename = "prerelease-only")]
    PrereleaseOnly,
    #[serde(rename = "stale-2y")]
    Stale2y,
    #[serde(rename = "stale-1y")]
    Stale1y,
    #[serde(rename = "major-drift")]
    MajorDrift,
    #[serde(rename = "minor-drift")]
    MinorDrift,
    #[serde(rename = "native-cuda-too-new")]
    NativeCudaTooNew,
    #[serde(rename = "driver-below-target-major")]
    DriverBelowTargetMajor,
    #[serde(rename = "driver-minor-compat")]
    DriverMinorCompat,
    #[serde(rename = "driver-headroom-ok")]
    DriverHeadroomOk,
    #[serde(rename = "external-service-no-local")]
    ExternalServiceNoLocal,
    #[serde(rename = "external-service-with-local")]
    ExternalServiceWithLocal,
    #[serde(rename = "mitigation-missing")]
    MitigationMissing,
    #[serde(rename = "not-installed")]
    NotInstalled,
}

impl RiskRuleId {
    pub const ALL: [RiskRuleId; 15] = [
        RiskRuleId::InstalledBelowMatrix,
        RiskRuleId::YankedInstalled,
        RiskRuleId::PrereleaseOnly,
        RiskRuleId::Stale2y,
        RiskRuleId::Stale1y,
        RiskRuleId::MajorDrift,
        RiskRuleId::MinorDrift,
        RiskRuleId::NativeCudaTooNew,
        RiskRuleId::DriverBelowTargetMajor,
        RiskRuleId::DriverMinorCompat,
        RiskRuleId::DriverHeadroomOk,
        RiskRuleId::ExternalServiceNoLocal,
        RiskRuleId::ExternalServiceWithLocal,
        RiskRuleId::MitigationMissing,
        RiskRuleId::NotInstalled,
    ];

    /// The id as the table and the report write it (`stale-2y`).
    pub fn as_str(self) -> &'static str {
        match self {
            RiskRuleId::InstalledBelowMatrix => "installed-below-matrix",
            RiskRuleId::YankedInstalled => "yanked-installed",
            RiskRuleId::PrereleaseOnly => "prerelease-only",
            RiskRuleId::Stale2y => "stale-2y",
            RiskRuleId::Stale1y => "stale-1y",
            RiskRuleId::MajorDrift => "major-drift",
            RiskRuleId::MinorDrift => "minor-drift",
            RiskRuleId::NativeCudaTooNew => "native-cuda-too-new",
            RiskRuleId::DriverBelowTargetMajor => "driver-below-target-major",
            RiskRuleId::DriverMinorCompat => "driver-minor-compat",
            RiskRuleId::DriverHeadroomOk => "driver-headroom-ok",
            RiskRuleId::ExternalServiceNoLocal => "external-service-no-local",
            RiskRuleId::ExternalServiceWithLocal => "external-service-with-local",
            RiskRuleId::MitigationMissing => "mitigation-missing",
            RiskRuleId::NotInstalled => "not-installed",
        }
    }
}

impl std::fmt::Display for RiskRuleId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One row of the table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RiskRule {
    pub id: RiskRuleId,
    pub level: RiskLevel,
    pub means: String,
    #[serde(default)]
    pub days: Option<u64>,
    #[serde(default)]
    pub minors: Option<u64>,
    #[serde(default)]
    pub alternatives: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RulesFile {
    schema: Spanned<u32>,
    rule: Vec<Spanned<RiskRule>>,
}

/// The checked table: every rule once, every threshold present.
#[derive(Debug, Clone)]
pub struct RiskRules {
    /// In [`RiskRuleId::ALL`] order.
    rules: Vec<RiskRule>,
}

impl RiskRules {
    pub(super) fn parse(t: Table<'_>) -> Result<RiskRules, KnowledgeError> {
        let f: RulesFile = t.parse()?;
        t.check_schema(&f.schema)?;
        let mut slots: Vec<Option<RiskRule>> = vec![None; RiskRuleId::ALL.len()];
        for row in f.rule {
            let span = row.span();
            let r = row.into_inner();
            let missing = match r.id {
                RiskRuleId::Stale1y | RiskRuleId::Stale2y => r.days.is_none().then_some("days"),
                RiskRuleId::MinorDrift => r.minors.is_none().then_some("minors"),
                RiskRuleId::ExternalServiceNoLocal | RiskRuleId::ExternalServiceWithLocal => {
                    r.alternatives.is_empty().then_some("alternatives")
                }
                _ => None,
            };
            if let Some(key) = missing {
                return Err(t.invalid(Some(span), format!("rule `{}` needs `{key}`", r.id)));
            }
            let slot = &mut slots[position(r.id)];
            if slot.is_some() {
                return Err(t.invalid(Some(span), format!("rule `{}` listed twice", r.id)));
            }
            *slot = Some(r);
        }
        let mut rules = Vec::new();
        for (id, slot) in RiskRuleId::ALL.into_iter().zip(slots) {
            match slot {
                Some(r) => rules.push(r),
                None => return Err(t.invalid(None, format!("no [[rule]] with id `{id}`"))),
            }
        }
        Ok(RiskRules { rules })
    }

    /// The rule with this id (the table has every one).
    pub fn get(&self, id: RiskRuleId) -> &RiskRule {
        &self.rules[position(id)]
    }

    /// Every rule, in [`RiskRuleId::ALL`] order.
    pub fn all(&self) -> &[RiskRule] {
        &self.rules
    }

    /// The `days` threshold of a staleness rule (0 for a rule that has none).
    pub fn days(&self, id: RiskRuleId) -> u64 {
        self.get(id).days.unwrap_or_default()
    }

    /// The `minors` threshold of the minor-drift rule.
    pub fn minor_drift(&self) -> u64 {
        self.get(RiskRuleId::MinorDrift).minors.unwrap_or_default()
    }
}

/// Where a rule sits in [`RiskRuleId::ALL`], which lists the variants in declaration order.
fn position(id: RiskRuleId) -> usize {
    id as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_spelt_as_serde_does() {
        let mut seen = std::collections::HashSet::new();
        for id in RiskRuleId::ALL {
            assert!(seen.insert(id.as_str()), "{id} twice");
            let json = serde_json::to_string(&id).expect("serialises");
            assert_eq!(json, format!("\"{id}\""));
        }
        for (i, id) in RiskRuleId::ALL.into_iter().enumerate() {
            assert_eq!(position(id), i, "ALL lists {id} out of declaration order");
        }
    }

    #[test]
    fn every_rule_and_threshold_is_required() {
        let text = crate::knowledge::Tables::EMBEDDED.risk_rules;
        let rules = RiskRules::parse(Table::new(FILE, text)).expect("embedded rules");
        assert_eq!(rules.days(RiskRuleId::Stale1y), 365);
        assert_eq!(rules.minor_drift(), 3);

        let without = text.replacen("days = 730\n", "", 1);
        let e = RiskRules::parse(Table::new(FILE, &without)).expect_err("stale-2y has no days");
        assert!(e.message.contains("`stale-2y` needs `days`"), "{e}");
        let line = text
            .lines()
            .position(|l| l.contains("\"stale-2y\""))
            .expect("row");
        assert_eq!(
            e.line, line,
            "the row's [[rule]] header, one line above its id"
        );

        let dropped = text.replacen(
            "id = \"driver-headroom-ok\"",
            "id = \"driver-minor-compat\"",
            1,
        );
        let e = RiskRules::parse(Table::new(FILE, &dropped)).expect_err("a rule twice");
        assert!(e.message.contains("listed twice"), "{e}");

        let unknown = text.replacen("id = \"not-installed\"", "id = \"not-there\"", 1);
        assert!(RiskRules::parse(Table::new(FILE, &unknown)).is_err());
    }
}
