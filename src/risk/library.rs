//! The library rules of a risk row: the installed version against the matrix's, and the package
//! index's releases against both (pre-release-only, staleness, yanked, major and minor drift).

use jiff::civil::Date;
use jiff::tz::TimeZone;

use super::{Facts, Findings, ProjectFacts};
use crate::env::Distribution;
use crate::index::FetchSource;
use crate::knowledge::RiskRuleId;
use crate::model::normalize;

/// Days from an RFC 3339 time's date (its `YYYY-MM-DD` part, as written) to `now`'s date in
/// UTC; `None` for a time that is not one, or one after `now`.
fn age_days(rfc3339: &str, now: jiff::Timestamp) -> Option<u64> {
    let date: Date = rfc3339.get(..10)?.parse().ok()?;
    let today = now.to_zoned_datetime(TimeZone::UTC).date();
    let days = today.since(date).ok()?.get_days();
    u64::try_from(days).ok()
}

/// `2.4.1` -> `(2, 4)`.
fn release_of(v: &str) -> Option<(u64, u64)> {
    let v: pep440_rs::Version = v.parse().ok()?;
    let r = v.release();
    Some((*r.first()?, r.get(1).copied().unwrap_or(0)))
}

fn source_text(s: FetchSource) -> String {
    match s {
        FetchSource::Network => "network".into(),
        FetchSource::Cache { age_s } => format!("cache, {age_s} s old"),
    }
}

/// Every library rule for one library of a row.
pub(super) fn rules(facts: &Facts<'_>, lib: &str, found: &mut Findings) {
    let n = normalize(lib);
    let installed = facts.env.get(lib);
    installed_rules(facts, lib, installed, found);
    match facts.index.get(&n) {
        None => found
            .evidence
            .push(format!("{n}: the package index was not asked")),
        Some(Err(e)) => found.evidence.push(format!("{n}: no index facts ({e})")),
        Some(Ok(p)) => index_rules(facts, lib, installed, p, found),
    }
}

/// The installed version against the matrix's.
fn installed_rules(
    facts: &Facts<'_>,
    lib: &str,
    installed: Option<&Distribution>,
    found: &mut Findings,
) {
    let n = normalize(lib);
    match installed {
        Some(d) => {
            found
                .evidence
                .push(format!("{n} {} installed", d.version_text));
            if let (Some(s), Some(v)) = (facts.matrix.spec(lib), &d.version) {
                if !s.contains(v) {
                    found.fire(
                        facts.k,
                        RiskRuleId::InstalledBelowMatrix,
                        format!("{n} {} does not satisfy the matrix's {s}", d.version_text),
                    );
                }
            }
        }
        None => found.fire(
            facts.k,
            RiskRuleId::NotInstalled,
            format!("{n} is not installed in this environment"),
        ),
    }
}

/// What the index says: pre-release-only, staleness, yanked, drift.
fn index_rules(
    facts: &Facts<'_>,
    lib: &str,
    installed: Option<&Distribution>,
    p: &ProjectFacts,
    found: &mut Findings,
) {
    let (n, k) = (normalize(lib), facts.k);
    found.evidence.push(format!(
        "index ({}): latest {}, newest of any kind {}, {} releases",
        source_text(p.source),
        p.latest.as_deref().unwrap_or("none"),
        p.latest_any.as_deref().unwrap_or("none"),
        p.releases
    ));
    if p.latest.is_none() && p.latest_any.is_some() {
        found.fire(
            k,
            RiskRuleId::PrereleaseOnly,
            format!(
                "{n}'s only releases are pre-releases or development versions (newest {})",
                p.latest_any.as_deref().unwrap_or("")
            ),
        );
    }
    if let Some(up) = &p.latest_upload {
        if let Some(days) = age_days(up, facts.now) {
            found
                .evidence
                .push(format!("newest release uploaded {up} ({days} days ago)"));
            let rules = k.risk_rules();
            let stale = if days > rules.days(RiskRuleId::Stale2y) {
                Some(RiskRuleId::Stale2y)
            } else if days > rules.days(RiskRuleId::Stale1y) {
                Some(RiskRuleId::Stale1y)
            } else {
                None
            };
            if let Some(id) = stale {
                found.fire(k, id, format!("{n}'s newest release is {days} days old"));
            }
        }
    }
    if let Some(d) = installed {
        if p.yanked.iter().any(|y| {
            *y == d.version_text
                || y.parse::<pep440_rs::Version>().ok()
                    == d.version.clone().map(|v| v.without_local())
        }) {
            found.fire(
                k,
                RiskRuleId::YankedInstalled,
                format!("{n} {} is yanked on the index", d.version_text),
            );
        }
    }
    drift(facts, lib, installed, p, found);
}

/// The index's latest against the installed version (or the matrix's floor).
fn drift(
    facts: &Facts<'_>,
    lib: &str,
    installed: Option<&Distribution>,
    p: &ProjectFacts,
    found: &mut Findings,
) {
    let (n, k) = (normalize(lib), facts.k);
    let spec = facts.matrix.spec(lib);
    let base = installed
        .map(|d| d.version_text.clone())
        .or_else(|| spec.and_then(|s| s.iter().next().map(|v| v.version().to_string())));
    let (Some(latest), Some(base)) = (&p.latest, base) else {
        return;
    };
    let (Some((lm, lmin)), Some((bm, bmin))) = (release_of(latest), release_of(&base)) else {
        return;
    };
    let what = if installed.is_some() {
        "installed"
    } else {
        "the matrix's floor"
    };
    if lm > bm {
        found.fire(
            k,
            RiskRuleId::MajorDrift,
            format!(
                "{n}: the index's latest is {latest}, {what} is {base} (a major version behind)"
            ),
        );
    } else if lm == bm {
        let gap = lmin.saturating_sub(bmin);
        if installed.is_some() && gap >= k.risk_rules().minor_drift() {
            found.fire(
                k,
                RiskRuleId::MinorDrift,
                format!("{n} {base} is {gap} minor releases behind the latest {latest}"),
            );
        }
    }
    if let Some(s) = spec {
        found.evidence.push(format!(
            "drift: the matrix says {n}{s}, the index's latest is {latest}, {what} is {base}"
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages() {
        // 2026-11-28 00:00 UTC
        let now = jiff::Timestamp::from_second(1_795_824_000).expect("timestamp");
        assert_eq!(age_days("2026-11-28T10:00:00Z", now), Some(0));
        assert_eq!(age_days("2025-11-28T10:00:00Z", now), Some(365));
        assert_eq!(age_days("2023-05-01T00:00:00.123Z", now), Some(1307));
        assert_eq!(age_days("2026-11-29T00:00:00Z", now), None, "after now");
        assert_eq!(age_days("2023-02-30T00:00:00Z", now), None, "no such day");
        assert_eq!(age_days("garbage", now), None);
    }
}
