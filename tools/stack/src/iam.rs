//! The identity policies of the template's roles, evaluated as IAM evaluates one
//! identity-based policy: an explicit Deny wins, then any Allow, else the default deny.
//!
//! Only the part of the policy language the template uses (and a little more) is
//! understood; anything else (NotAction, NotResource, Principal, policy variables,
//! set operators, an unknown condition operator) is a parse error, so a policy nobody
//! can evaluate is never taken for one that allows.

use std::collections::BTreeMap;

use anyhow::{Context, anyhow, bail};
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Effect {
    Allow,
    Deny,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    StringEquals,
    StringNotEquals,
    StringEqualsIgnoreCase,
    StringNotEqualsIgnoreCase,
    StringLike,
    StringNotLike,
    ArnEquals,
    ArnNotEquals,
    ArnLike,
    ArnNotLike,
    Bool,
    Null,
}

impl Op {
    fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "StringEquals" => Self::StringEquals,
            "StringNotEquals" => Self::StringNotEquals,
            "StringEqualsIgnoreCase" => Self::StringEqualsIgnoreCase,
            "StringNotEqualsIgnoreCase" => Self::StringNotEqualsIgnoreCase,
            "StringLike" => Self::StringLike,
            "StringNotLike" => Self::StringNotLike,
            "ArnEquals" => Self::ArnEquals,
            "ArnNotEquals" => Self::ArnNotEquals,
            "ArnLike" => Self::ArnLike,
            "ArnNotLike" => Self::ArnNotLike,
            "Bool" => Self::Bool,
            "Null" => Self::Null,
            _ => return None,
        })
    }

    /// Negated operators hold when the key is absent (IAM's rule for them).
    fn negated(self) -> bool {
        matches!(
            self,
            Self::StringNotEquals
                | Self::StringNotEqualsIgnoreCase
                | Self::StringNotLike
                | Self::ArnNotEquals
                | Self::ArnNotLike
        )
    }

    /// Whether the present value `v` matches the policy's value `p` (before negation).
    fn matches(self, p: &str, v: &str) -> bool {
        match self {
            Self::StringEquals | Self::StringNotEquals => p == v,
            Self::StringEqualsIgnoreCase | Self::StringNotEqualsIgnoreCase => {
                p.eq_ignore_ascii_case(v)
            }
            Self::StringLike | Self::StringNotLike => glob(p.as_bytes(), v.as_bytes()),
            Self::ArnEquals | Self::ArnNotEquals | Self::ArnLike | Self::ArnNotLike => {
                arn_like(p, v)
            }
            Self::Bool => p.eq_ignore_ascii_case(v),
            Self::Null => false,
        }
    }
}

#[derive(Debug, Clone)]
struct Condition {
    op: Op,
    if_exists: bool,
    key: String,
    values: Vec<String>,
}

impl Condition {
    fn holds(&self, context: &BTreeMap<String, String>) -> bool {
        // Condition keys are case-insensitive; values are not (unless the operator says).
        let present = context
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(&self.key))
            .map(|(_, v)| v.as_str());
        if self.op == Op::Null {
            // "true": the key must be absent; "false": present.
            return self
                .values
                .iter()
                .any(|p| match p.to_ascii_lowercase().as_str() {
                    "true" => present.is_none(),
                    "false" => present.is_some(),
                    _ => false,
                });
        }
        match present {
            None => self.if_exists || self.op.negated(),
            Some(v) => {
                let any = self.values.iter().any(|p| self.op.matches(p, v));
                if self.op.negated() { !any } else { any }
            }
        }
    }
}

#[derive(Debug, Clone)]
struct Statement {
    effect: Effect,
    actions: Vec<String>,
    resources: Vec<String>,
    conditions: Vec<Condition>,
}

impl Statement {
    fn applies(&self, action: &str, resource: &str, context: &BTreeMap<String, String>) -> bool {
        self.actions.iter().any(|a| {
            glob(
                a.to_ascii_lowercase().as_bytes(),
                action.to_ascii_lowercase().as_bytes(),
            )
        }) && self
            .resources
            .iter()
            .any(|r| glob(r.as_bytes(), resource.as_bytes()))
            && self.conditions.iter().all(|c| c.holds(context))
    }
}

/// What a policy says about one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allowed,
    /// No statement allows it (IAM: "because no identity-based policy allows ...").
    ImplicitDeny,
    /// A Deny statement matches (IAM: "with an explicit deny in an identity-based policy").
    ExplicitDeny,
}

/// One role's identity policies: the statements of all of them together.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    statements: Vec<Statement>,
}

fn strings(v: &Value, what: &str) -> anyhow::Result<Vec<String>> {
    let list = match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items
            .iter()
            .map(|i| {
                i.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| anyhow!("{what}: {i} is not a string"))
            })
            .collect::<anyhow::Result<_>>()?,
        // Bool conditions are sometimes written unquoted.
        Value::Bool(b) => vec![b.to_string()],
        other => bail!("{what}: {other} is neither a string nor a list of strings"),
    };
    if list.is_empty() {
        bail!("{what} is empty");
    }
    Ok(list)
}

fn parse_statement(v: &Value) -> anyhow::Result<Statement> {
    let obj = v
        .as_object()
        .ok_or_else(|| anyhow!("a statement is not an object: {v}"))?;
    for key in obj.keys() {
        match key.as_str() {
            "Sid" | "Effect" | "Action" | "Resource" | "Condition" => {}
            other => bail!("statement field {other} is not supported"),
        }
    }
    let effect = match obj.get("Effect").and_then(Value::as_str) {
        Some("Allow") => Effect::Allow,
        Some("Deny") => Effect::Deny,
        other => bail!("Effect must be Allow or Deny, not {other:?}"),
    };
    let actions = strings(
        obj.get("Action").ok_or_else(|| anyhow!("no Action"))?,
        "Action",
    )?;
    for a in &actions {
        if a != "*" && !a.contains(':') {
            bail!("action {a} has no service prefix");
        }
    }
    let resources = strings(
        obj.get("Resource").ok_or_else(|| anyhow!("no Resource"))?,
        "Resource",
    )?;
    for r in &resources {
        // Intrinsics are resolved before this; a `${...}` left is a policy variable or a bug.
        if r.contains("${") {
            bail!("resource {r} holds a variable");
        }
    }
    let mut conditions = Vec::new();
    if let Some(cond) = obj.get("Condition") {
        let cond = cond
            .as_object()
            .ok_or_else(|| anyhow!("Condition is not an object"))?;
        for (op_name, keys) in cond {
            if op_name.contains(':') {
                bail!("condition set operator {op_name} is not supported");
            }
            let (base, if_exists) = match op_name.strip_suffix("IfExists") {
                Some(base) => (base, true),
                None => (op_name.as_str(), false),
            };
            let op = Op::parse(base)
                .ok_or_else(|| anyhow!("condition operator {op_name} is not supported"))?;
            let keys = keys
                .as_object()
                .ok_or_else(|| anyhow!("{op_name} is not an object of keys"))?;
            for (key, values) in keys {
                conditions.push(Condition {
                    op,
                    if_exists,
                    key: key.clone(),
                    values: strings(values, key)?,
                });
            }
        }
    }
    Ok(Statement {
        effect,
        actions,
        resources,
        conditions,
    })
}

impl Policy {
    /// Parses statements `{Effect, Action, Resource, Condition?}` (intrinsics resolved).
    pub fn from_statements(statements: &[Value]) -> anyhow::Result<Policy> {
        let statements = statements
            .iter()
            .enumerate()
            .map(|(i, s)| parse_statement(s).with_context(|| format!("statement {i}")))
            .collect::<anyhow::Result<_>>()?;
        Ok(Policy { statements })
    }

    /// Adds another policy's statements (a role with several policies).
    pub fn merge(&mut self, other: Policy) {
        self.statements.extend(other.statements);
    }

    pub fn decide(
        &self,
        action: &str,
        resource: &str,
        context: &BTreeMap<String, String>,
    ) -> Decision {
        let matching = || {
            self.statements
                .iter()
                .filter(|s| s.applies(action, resource, context))
        };
        if matching().any(|s| s.effect == Effect::Deny) {
            Decision::ExplicitDeny
        } else if matching().any(|s| s.effect == Effect::Allow) {
            Decision::Allowed
        } else {
            Decision::ImplicitDeny
        }
    }

    pub fn allows(&self, action: &str, resource: &str, context: &BTreeMap<String, String>) -> bool {
        self.decide(action, resource, context) == Decision::Allowed
    }
}

/// `*` is any run of characters (`/` and `:` included), `?` any one character.
fn glob(pattern: &[u8], text: &[u8]) -> bool {
    // Iterative matcher with one backtrack point: linear enough for policy strings.
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && (pattern[p] == b'?' || pattern[p] == text[t]) {
            p += 1;
            t += 1;
        } else if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, t));
            p += 1;
        } else if let Some((sp, st)) = star {
            p = sp + 1;
            t = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&b| b == b'*')
}

/// ArnLike: each of the six `:`-separated parts matched on its own.
fn arn_like(pattern: &str, arn: &str) -> bool {
    let p: Vec<&str> = pattern.splitn(6, ':').collect();
    let a: Vec<&str> = arn.splitn(6, ':').collect();
    p.len() == 6
        && a.len() == 6
        && p.iter()
            .zip(&a)
            .all(|(p, a)| glob(p.as_bytes(), a.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const TABLE: &str = "arn:aws:dynamodb:ap-southeast-3:123456789012:table/paspor-table";
    const BUCKET: &str = "arn:aws:s3:::paspor-documents-123456789012-ap-southeast-3-dev";

    fn none() -> BTreeMap<String, String> {
        BTreeMap::new()
    }

    fn ctx(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// The uploads function's role, as the template has it.
    fn uploads() -> Policy {
        Policy::from_statements(&[
            json!({"Effect": "Allow", "Action": ["dynamodb:GetItem", "dynamodb:PutItem"], "Resource": TABLE}),
            json!({"Effect": "Allow", "Action": ["s3:PutObject", "s3:GetObject", "s3:DeleteObject"], "Resource": format!("{BUCKET}/documents/*")}),
            json!({"Effect": "Allow", "Action": ["s3:ListBucket"], "Resource": BUCKET}),
            json!({"Effect": "Allow", "Action": ["ssm:GetParameters"], "Resource": "arn:aws:ssm:ap-southeast-3:123456789012:parameter/paspor/dev/*"}),
        ])
        .expect("the template's statements parse")
    }

    #[test]
    fn allows_what_is_listed_and_nothing_else() {
        let p = uploads();
        assert!(p.allows("dynamodb:GetItem", TABLE, &none()));
        assert!(p.allows("dynamodb:PutItem", TABLE, &none()));
        assert!(!p.allows("dynamodb:Query", TABLE, &none()));
        assert!(!p.allows("dynamodb:DeleteItem", TABLE, &none()));
        assert!(!p.allows("dynamodb:GetItem", &format!("{TABLE}-other"), &none()));
        assert!(!p.allows("dynamodb:GetItem", &format!("{TABLE}/index/gsi1"), &none()));
        let doc = format!("{BUCKET}/documents/app1/passport.jpg");
        assert!(p.allows("s3:GetObject", &doc, &none()));
        assert!(!p.allows("s3:GetObject", &format!("{BUCKET}/invoices/a.pdf"), &none()));
        assert!(p.allows(
            "s3:ListBucket",
            BUCKET,
            &ctx(&[("s3:prefix", "documents/")])
        ));
        assert!(!p.allows("s3:ListBucket", &format!("{BUCKET}/documents/x"), &none()));
        assert!(p.allows(
            "ssm:GetParameters",
            "arn:aws:ssm:ap-southeast-3:123456789012:parameter/paspor/dev/token-key",
            &none()
        ));
        assert!(!p.allows(
            "ssm:GetParameters",
            "arn:aws:ssm:ap-southeast-3:123456789012:parameter/paspor/prod/token-key",
            &none()
        ));
        assert_eq!(
            p.decide(
                "sqs:SendMessage",
                "arn:aws:sqs:ap-southeast-3:123456789012:jobs",
                &none()
            ),
            Decision::ImplicitDeny
        );
        assert!(!Policy::default().allows("s3:GetObject", &doc, &none()));
    }

    #[test]
    fn action_is_case_insensitive_resource_is_not() {
        let p = uploads();
        assert!(p.allows("DynamoDB:getitem", TABLE, &none()));
        assert!(!p.allows("dynamodb:GetItem", &TABLE.to_uppercase(), &none()));
        assert!(!p.allows("s3:GetObject", &format!("{BUCKET}/Documents/x"), &none()));
    }

    #[test]
    fn wildcards() {
        let p = Policy::from_statements(&[
            json!({"Effect": "Allow", "Action": "dynamodb:Get*", "Resource": "arn:aws:dynamodb:*:*:table/paspor-?able"}),
            json!({"Effect": "Allow", "Action": "sqs:*", "Resource": "*"}),
        ])
        .expect("parses");
        assert!(p.allows("dynamodb:GetItem", TABLE, &none()));
        assert!(!p.allows("dynamodb:PutItem", TABLE, &none()));
        assert!(!p.allows(
            "dynamodb:GetItem",
            "arn:aws:dynamodb:ap-southeast-3:1:table/paspor-tables",
            &none()
        ));
        assert!(p.allows("sqs:SendMessage", "arn:aws:sqs:x:1:q", &none()));
        assert!(glob(b"a*b*c", b"aXXbYYc"));
        assert!(glob(b"*", b""));
        assert!(!glob(b"a?c", b"ac"));
        assert!(glob(b"a*", b"a"));
        assert!(!glob(b"*.pdf", b"a.pdfx"));
    }

    #[test]
    fn explicit_deny_wins() {
        let p = Policy::from_statements(&[
            json!({"Effect": "Allow", "Action": "s3:*", "Resource": "*"}),
            json!({"Effect": "Deny", "Action": "s3:DeleteObject", "Resource": format!("{BUCKET}/invoices/*")}),
        ])
        .expect("parses");
        assert_eq!(
            p.decide("s3:DeleteObject", &format!("{BUCKET}/invoices/a"), &none()),
            Decision::ExplicitDeny
        );
        assert!(p.allows("s3:DeleteObject", &format!("{BUCKET}/documents/a"), &none()));
    }

    #[test]
    fn conditions() {
        // The template's bucket policy and queue policy (as identity statements here).
        let tls = Policy::from_statements(&[
            json!({"Effect": "Allow", "Action": "s3:*", "Resource": "*"}),
            json!({"Effect": "Deny", "Action": "s3:*", "Resource": [BUCKET, format!("{BUCKET}/*")],
                   "Condition": {"Bool": {"aws:SecureTransport": "false"}}}),
        ])
        .expect("parses");
        let obj = format!("{BUCKET}/documents/a");
        assert!(!tls.allows(
            "s3:GetObject",
            &obj,
            &ctx(&[("aws:SecureTransport", "false")])
        ));
        assert!(tls.allows(
            "s3:GetObject",
            &obj,
            &ctx(&[("aws:SecureTransport", "true")])
        ));
        // A key that is absent makes Bool false, so the Deny does not apply.
        assert!(tls.allows("s3:GetObject", &obj, &none()));

        let queue = Policy::from_statements(&[json!({
            "Effect": "Allow", "Action": "sqs:SendMessage", "Resource": "arn:aws:sqs:ap-southeast-3:123456789012:uploads",
            "Condition": {
                "ArnLike": {"aws:SourceArn": BUCKET},
                "StringEquals": {"aws:SourceAccount": "123456789012"}
            }
        })])
        .expect("parses");
        let q = "arn:aws:sqs:ap-southeast-3:123456789012:uploads";
        let good = ctx(&[
            ("aws:SourceArn", BUCKET),
            ("aws:sourceaccount", "123456789012"),
        ]);
        assert!(queue.allows("sqs:SendMessage", q, &good));
        assert!(!queue.allows(
            "sqs:SendMessage",
            q,
            &ctx(&[("aws:SourceArn", BUCKET), ("aws:SourceAccount", "999")])
        ));
        assert!(!queue.allows(
            "sqs:SendMessage",
            q,
            &ctx(&[
                ("aws:SourceArn", "arn:aws:s3:::other"),
                ("aws:SourceAccount", "123456789012")
            ])
        ));
        assert!(!queue.allows("sqs:SendMessage", q, &ctx(&[("aws:SourceArn", BUCKET)])));

        let like = Policy::from_statements(&[json!({
            "Effect": "Allow", "Action": "s3:ListBucket", "Resource": BUCKET,
            "Condition": {"StringLike": {"s3:prefix": ["documents/*", "invoices/*"]}, "StringNotEqualsIfExists": {"s3:delimiter": "/"}}
        })])
        .expect("parses");
        assert!(like.allows(
            "s3:ListBucket",
            BUCKET,
            &ctx(&[("s3:prefix", "documents/app1/")])
        ));
        assert!(!like.allows("s3:ListBucket", BUCKET, &ctx(&[("s3:prefix", "secrets/")])));
        assert!(!like.allows("s3:ListBucket", BUCKET, &none()));
        assert!(!like.allows(
            "s3:ListBucket",
            BUCKET,
            &ctx(&[("s3:prefix", "documents/"), ("s3:delimiter", "/")])
        ));

        // ArnLike matches part by part: `*` does not cross a colon.
        assert!(arn_like("arn:aws:s3:::paspor-*", BUCKET));
        assert!(!arn_like("arn:aws:s3:*", BUCKET));
        assert!(arn_like("arn:aws:s3:*:*:*", BUCKET));

        let null = Policy::from_statements(&[json!({
            "Effect": "Allow", "Action": "ssm:GetParameters", "Resource": "*",
            "Condition": {"Null": {"aws:SourceIp": "true"}}
        })])
        .expect("parses");
        assert!(null.allows("ssm:GetParameters", "arn:x", &none()));
        assert!(!null.allows(
            "ssm:GetParameters",
            "arn:x",
            &ctx(&[("aws:SourceIp", "1.2.3.4")])
        ));
    }

    #[test]
    fn unsupported_language_is_a_parse_error() {
        let bad = [
            json!({"Effect": "Allow", "NotAction": "s3:*", "Resource": "*"}),
            json!({"Effect": "Allow", "Action": "s3:*", "NotResource": "*"}),
            json!({"Effect": "Allow", "Action": "s3:*", "Resource": "*", "Principal": "*"}),
            json!({"Effect": "Allow", "Action": "s3:*", "Resource": "*", "Condition": {"DateGreaterThan": {"aws:CurrentTime": "2026-01-01T00:00:00Z"}}}),
            json!({"Effect": "Allow", "Action": "s3:*", "Resource": "*", "Condition": {"ForAnyValue:StringEquals": {"dynamodb:EnclosingOperation": ["TransactWriteItems"]}}}),
            json!({"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::b/${aws:username}/*"}),
            json!({"Effect": "allow", "Action": "s3:*", "Resource": "*"}),
            json!({"Effect": "Allow", "Action": "GetObject", "Resource": "*"}),
            json!({"Effect": "Allow", "Action": [], "Resource": "*"}),
            json!({"Effect": "Allow", "Resource": "*"}),
            json!({"Effect": "Allow", "Action": "s3:*", "Resource": {"Fn::GetAtt": ["Bucket", "Arn"]}}),
        ];
        for s in bad {
            assert!(
                Policy::from_statements(std::slice::from_ref(&s)).is_err(),
                "{s}"
            );
        }
    }

    #[test]
    fn merged_policies_evaluate_together() {
        let mut p = uploads();
        p.merge(
            Policy::from_statements(&[
                json!({"Effect": "Deny", "Action": "dynamodb:*", "Resource": "*"}),
            ])
            .expect("parses"),
        );
        assert_eq!(
            p.decide("dynamodb:GetItem", TABLE, &none()),
            Decision::ExplicitDeny
        );
    }
}
