//! `infra/template.yaml` read as CloudFormation would: parameters with their defaults,
//! the pseudo parameters, `!Ref`, `!GetAtt`, `!Sub` (both forms) resolved to the names,
//! URLs and ARNs of the resources the stack creates here, and `Globals.Function` merged into
//! every function.

use std::collections::BTreeMap;

use anyhow::{Context, Result, anyhow, bail};
use serde_json::{Map, Value as Json};
use serde_norway::Value as Yaml;

/// The account and region every ARN of the stack names (moto's default account).
pub const ACCOUNT: &str = "123456789012";
pub const REGION: &str = "ap-southeast-3";

/// The physical names and attributes of the resources, decided before the template is
/// resolved (queue URLs come from the SQS stand-in).
#[derive(Debug, Default, Clone)]
pub struct Physical {
    /// Logical id → what `!Ref` answers.
    pub refs: BTreeMap<String, String>,
    /// `Logical.Attribute` → what `!GetAtt` answers.
    pub attrs: BTreeMap<String, String>,
}

#[derive(Debug, Clone)]
pub struct Template {
    raw: Yaml,
    pub parameters: BTreeMap<String, String>,
}

/// The route API Gateway gives every request no other route matches.
pub const DEFAULT_ROUTE: &str = "$default";

#[derive(Debug, Clone, PartialEq)]
pub struct HttpRoute {
    pub method: String,
    pub path: String,
    pub iam: bool,
}

#[derive(Debug, Clone)]
pub struct SqsMapping {
    pub queue_logical: String,
    pub batch_size: usize,
    pub report_failures: bool,
}

#[derive(Debug, Clone)]
pub struct Function {
    pub logical: String,
    pub binary: String,
    pub env: BTreeMap<String, String>,
    pub timeout_secs: u64,
    pub memory_mb: u64,
    pub http: Vec<HttpRoute>,
    pub sqs: Vec<SqsMapping>,
    /// `rate(N unit)` of a schedule, in seconds.
    pub schedule_secs: Option<u64>,
    /// The role's identity-policy statements, resolved.
    pub statements: Vec<Json>,
}

#[derive(Debug, Clone)]
pub struct Queue {
    pub logical: String,
    pub visibility_secs: Option<u64>,
    pub retention_secs: Option<u64>,
    /// Dead-letter queue's logical id and maxReceiveCount.
    pub redrive: Option<(String, u64)>,
}

#[derive(Debug, Clone)]
pub struct Bucket {
    pub logical: String,
    pub cors: Vec<Json>,
    /// Queue logical id and key prefix of each `s3:ObjectCreated:*` notification.
    pub notifications: Vec<(String, String)>,
}

#[derive(Debug, Clone)]
pub struct Table {
    pub logical: String,
    /// (attribute, HASH|RANGE, S|N|B)
    pub keys: Vec<(String, String, String)>,
    pub ttl_attribute: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Api {
    pub logical: String,
    pub stage: String,
    pub cors: Option<Json>,
}

impl Template {
    pub fn load(path: &std::path::Path, overrides: &BTreeMap<String, String>) -> Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
        let raw: Yaml = serde_norway::from_str(&text).context("parse the template")?;
        let mut parameters = BTreeMap::new();
        if let Some(params) = raw.get("Parameters").and_then(Yaml::as_mapping) {
            for (name, spec) in params {
                let name = name.as_str().context("parameter name")?.to_owned();
                let value = match overrides.get(&name) {
                    Some(v) => v.clone(),
                    None => match spec.get("Default") {
                        Some(Yaml::String(s)) => s.clone(),
                        Some(Yaml::Number(n)) => n.to_string(),
                        Some(other) => bail!("parameter {name}: default {other:?}"),
                        None => bail!("parameter {name} has no default and no value"),
                    },
                };
                parameters.insert(name, value);
            }
        }
        for name in overrides.keys() {
            if !parameters.contains_key(name) {
                bail!("the template has no parameter {name}");
            }
        }
        Ok(Self { raw, parameters })
    }

    fn resources(&self) -> impl Iterator<Item = (&str, &Yaml)> {
        self.raw
            .get("Resources")
            .and_then(Yaml::as_mapping)
            .into_iter()
            .flatten()
            .filter_map(|(k, v)| Some((k.as_str()?, v)))
    }

    fn of_type(&self, ty: &str) -> Vec<(&str, &Yaml)> {
        self.resources()
            .filter(|(_, r)| r.get("Type").and_then(Yaml::as_str) == Some(ty))
            .collect()
    }

    /// Every resource's logical id and type.
    pub fn resource_types(&self) -> Vec<(String, String)> {
        self.resources()
            .map(|(k, r)| (k.to_owned(), r["Type"].as_str().unwrap_or("").to_owned()))
            .collect()
    }

    /// Each bucket's `BucketName`, resolved (parameters and pseudo parameters only).
    pub fn bucket_names(&self, physical: &Physical) -> Result<Vec<(String, String)>> {
        self.of_type("AWS::S3::Bucket")
            .into_iter()
            .map(|(logical, r)| {
                let name = match r["Properties"].get("BucketName") {
                    Some(n) => match self.resolve(n, physical)? {
                        Json::String(s) => s,
                        other => bail!("{logical}: BucketName {other}"),
                    },
                    None => format!("paspor-{}-{}", self.stage(), logical.to_lowercase()),
                };
                Ok((logical.to_owned(), name))
            })
            .collect()
    }

    pub fn stage(&self) -> &str {
        self.parameters.get("Stage").map_or("dev", String::as_str)
    }

    pub fn tables(&self) -> Result<Vec<Table>> {
        self.of_type("AWS::DynamoDB::Table")
            .into_iter()
            .map(|(logical, r)| {
                let p = &r["Properties"];
                let types: BTreeMap<&str, &str> = p["AttributeDefinitions"]
                    .as_sequence()
                    .into_iter()
                    .flatten()
                    .filter_map(|d| {
                        Some((d["AttributeName"].as_str()?, d["AttributeType"].as_str()?))
                    })
                    .collect();
                let keys = p["KeySchema"]
                    .as_sequence()
                    .context("KeySchema")?
                    .iter()
                    .map(|k| {
                        let name = k["AttributeName"].as_str().context("AttributeName")?;
                        let kind = k["KeyType"].as_str().context("KeyType")?;
                        let ty = types.get(name).context("key attribute not defined")?;
                        Ok((name.to_owned(), kind.to_owned(), (*ty).to_owned()))
                    })
                    .collect::<Result<_>>()?;
                let ttl = &p["TimeToLiveSpecification"];
                let ttl_attribute = (ttl["Enabled"].as_bool() == Some(true))
                    .then(|| ttl["AttributeName"].as_str().map(str::to_owned))
                    .flatten();
                Ok(Table {
                    logical: logical.to_owned(),
                    keys,
                    ttl_attribute,
                })
            })
            .collect()
    }

    pub fn queues(&self) -> Result<Vec<Queue>> {
        self.of_type("AWS::SQS::Queue")
            .into_iter()
            .map(|(logical, r)| {
                let p = &r["Properties"];
                let redrive = match p.get("RedrivePolicy") {
                    None => None,
                    Some(policy) => {
                        let target = policy["deadLetterTargetArn"]
                            .clone()
                            .into_tagged()
                            .context("deadLetterTargetArn is not !GetAtt")?;
                        let dlq = target
                            .split('.')
                            .next()
                            .context("deadLetterTargetArn")?
                            .to_owned();
                        let max = policy["maxReceiveCount"]
                            .as_u64()
                            .context("maxReceiveCount")?;
                        Some((dlq, max))
                    }
                };
                Ok(Queue {
                    logical: logical.to_owned(),
                    visibility_secs: p["VisibilityTimeout"].as_u64(),
                    retention_secs: p["MessageRetentionPeriod"].as_u64(),
                    redrive,
                })
            })
            .collect()
    }

    /// Buckets, resolved against `physical` (their CORS origins are parameters).
    pub fn buckets(&self, physical: &Physical) -> Result<Vec<Bucket>> {
        self.of_type("AWS::S3::Bucket")
            .into_iter()
            .map(|(logical, r)| {
                let p = &r["Properties"];
                let cors = match p.get("CorsConfiguration") {
                    Some(c) => match self.resolve(&c["CorsRules"], physical)? {
                        Json::Array(rules) => rules,
                        _ => bail!("{logical}: CorsRules"),
                    },
                    None => vec![],
                };
                let mut notifications = vec![];
                for n in p["NotificationConfiguration"]["QueueConfigurations"]
                    .as_sequence()
                    .into_iter()
                    .flatten()
                {
                    let queue = n["Queue"]
                        .clone()
                        .into_tagged()
                        .context("Queue is not !GetAtt")?;
                    let queue = queue.split('.').next().context("Queue")?.to_owned();
                    let prefix = n["Filter"]["S3Key"]["Rules"]
                        .as_sequence()
                        .into_iter()
                        .flatten()
                        .find(|r| r["Name"].as_str() == Some("prefix"))
                        .and_then(|r| r["Value"].as_str())
                        .unwrap_or("")
                        .to_owned();
                    notifications.push((queue, prefix));
                }
                Ok(Bucket {
                    logical: logical.to_owned(),
                    cors,
                    notifications,
                })
            })
            .collect()
    }

    pub fn api(&self, physical: &Physical) -> Result<Api> {
        let apis = self.of_type("AWS::Serverless::HttpApi");
        let [(logical, r)] = apis.as_slice() else {
            bail!(
                "the template has {} HttpApi resources; the stack serves exactly one",
                apis.len()
            );
        };
        let p = &r["Properties"];
        let stage = match p.get("StageName") {
            Some(s) => match self.resolve(s, physical)? {
                Json::String(s) => s,
                other => bail!("StageName {other}"),
            },
            None => "$default".to_owned(),
        };
        let cors = p
            .get("CorsConfiguration")
            .map(|c| self.resolve(c, physical))
            .transpose()?;
        Ok(Api {
            logical: (*logical).to_owned(),
            stage,
            cors,
        })
    }

    pub fn functions(&self, physical: &Physical) -> Result<Vec<Function>> {
        let globals = &self.raw["Globals"]["Function"];
        let global_env = globals["Environment"]["Variables"].clone();
        self.of_type("AWS::Serverless::Function")
            .into_iter()
            .map(|(logical, r)| {
                let p = &r["Properties"];
                let binary = r["Metadata"]["BuildProperties"]["Binary"]
                    .as_str()
                    .with_context(|| format!("{logical}: Metadata.BuildProperties.Binary"))?
                    .to_owned();
                let mut env = BTreeMap::new();
                for vars in [&global_env, &p["Environment"]["Variables"]] {
                    if let Some(map) = vars.as_mapping() {
                        for (k, v) in map {
                            let k = k.as_str().context("env name")?.to_owned();
                            let v = match self.resolve(v, physical)? {
                                Json::String(s) => s,
                                Json::Number(n) => n.to_string(),
                                Json::Bool(b) => b.to_string(),
                                other => bail!("{logical}: {k} = {other}"),
                            };
                            env.insert(k, v);
                        }
                    }
                }
                let number = |key: &str, default: u64| {
                    p.get(key)
                        .or_else(|| globals.get(key))
                        .and_then(Yaml::as_u64)
                        .unwrap_or(default)
                };
                let mut function = Function {
                    logical: logical.to_owned(),
                    binary,
                    env,
                    timeout_secs: number("Timeout", 3),
                    memory_mb: number("MemorySize", 128),
                    http: vec![],
                    sqs: vec![],
                    schedule_secs: None,
                    statements: vec![],
                };
                for (_, event) in p["Events"].as_mapping().into_iter().flatten() {
                    let ep = &event["Properties"];
                    match event["Type"].as_str() {
                        // No Path and no Method: SAM's `$default` route, which takes every
                        // request no other route matches.
                        Some("HttpApi") => function.http.push(HttpRoute {
                            method: ep["Method"].as_str().unwrap_or("ANY").to_uppercase(),
                            path: ep["Path"].as_str().unwrap_or(DEFAULT_ROUTE).to_owned(),
                            iam: ep["Auth"]["Authorizer"].as_str() == Some("AWS_IAM"),
                        }),
                        Some("SQS") => {
                            let queue = ep["Queue"].clone().into_tagged().context("SQS Queue")?;
                            function.sqs.push(SqsMapping {
                                queue_logical: queue.split('.').next().context("Queue")?.to_owned(),
                                batch_size: ep["BatchSize"].as_u64().unwrap_or(10) as usize,
                                report_failures: ep["FunctionResponseTypes"]
                                    .as_sequence()
                                    .is_some_and(|t| {
                                        t.iter()
                                            .any(|t| t.as_str() == Some("ReportBatchItemFailures"))
                                    }),
                            })
                        }
                        Some("ScheduleV2" | "Schedule") => {
                            let expr = ep["ScheduleExpression"]
                                .as_str()
                                .context("ScheduleExpression")?;
                            function.schedule_secs = Some(rate_secs(expr)?);
                        }
                        other => bail!("{logical}: event type {other:?} is not emulated"),
                    }
                }
                for policy in p["Policies"].as_sequence().into_iter().flatten() {
                    let statements = policy.get("Statement").with_context(|| {
                        format!("{logical}: only inline policy statements are emulated")
                    })?;
                    match self.resolve(statements, physical)? {
                        Json::Array(list) => function.statements.extend(list),
                        one @ Json::Object(_) => function.statements.push(one),
                        other => bail!("{logical}: Statement {other}"),
                    }
                }
                Ok(function)
            })
            .collect()
    }

    /// A value with every intrinsic function resolved.
    pub fn resolve(&self, value: &Yaml, physical: &Physical) -> Result<Json> {
        Ok(match value {
            Yaml::Null => Json::Null,
            Yaml::Bool(b) => Json::Bool(*b),
            Yaml::Number(n) => serde_json::to_value(n)?,
            Yaml::String(s) => Json::String(s.clone()),
            Yaml::Sequence(items) => Json::Array(
                items
                    .iter()
                    .map(|i| self.resolve(i, physical))
                    .collect::<Result<_>>()?,
            ),
            Yaml::Mapping(map) => {
                let mut out = Map::new();
                for (k, v) in map {
                    let k = k.as_str().context("mapping key")?;
                    out.insert(k.to_owned(), self.resolve(v, physical)?);
                }
                out.into()
            }
            Yaml::Tagged(tagged) => {
                let tag = tagged.tag.to_string();
                let inner = &tagged.value;
                match tag.as_str() {
                    "!Ref" => {
                        let name = inner.as_str().context("!Ref")?;
                        Json::String(self.reference(name, physical)?)
                    }
                    "!GetAtt" => {
                        let name = match inner {
                            Yaml::String(s) => s.clone(),
                            Yaml::Sequence(parts) => parts
                                .iter()
                                .filter_map(Yaml::as_str)
                                .collect::<Vec<_>>()
                                .join("."),
                            other => bail!("!GetAtt {other:?}"),
                        };
                        Json::String(
                            physical
                                .attrs
                                .get(&name)
                                .cloned()
                                .with_context(|| format!("!GetAtt {name}: not emulated"))?,
                        )
                    }
                    "!Sub" => {
                        let (text, vars) = match inner {
                            Yaml::String(s) => (s.clone(), BTreeMap::new()),
                            Yaml::Sequence(parts) if parts.len() == 2 => {
                                let text = parts[0].as_str().context("!Sub text")?.to_owned();
                                let mut vars = BTreeMap::new();
                                for (k, v) in parts[1].as_mapping().context("!Sub variables")? {
                                    let resolved = match self.resolve(v, physical)? {
                                        Json::String(s) => s,
                                        other => other.to_string(),
                                    };
                                    vars.insert(
                                        k.as_str().context("!Sub name")?.to_owned(),
                                        resolved,
                                    );
                                }
                                (text, vars)
                            }
                            other => bail!("!Sub {other:?}"),
                        };
                        Json::String(self.substitute(&text, &vars, physical)?)
                    }
                    other => bail!("intrinsic {other} is not emulated"),
                }
            }
        })
    }

    fn reference(&self, name: &str, physical: &Physical) -> Result<String> {
        if let Some(v) = self.parameters.get(name) {
            return Ok(v.clone());
        }
        if let Some(v) = pseudo(name, self.stage()) {
            return Ok(v);
        }
        physical
            .refs
            .get(name)
            .cloned()
            .ok_or_else(|| anyhow!("!Ref {name}: not emulated"))
    }

    fn substitute(
        &self,
        text: &str,
        vars: &BTreeMap<String, String>,
        physical: &Physical,
    ) -> Result<String> {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after.find('}').context("!Sub: unclosed ${")?;
            let name = &after[..end];
            if let Some(literal) = name.strip_prefix('!') {
                out.push_str("${");
                out.push_str(literal);
                out.push('}');
            } else if let Some(v) = vars.get(name) {
                out.push_str(v);
            } else if name.contains('.') && !name.starts_with("AWS::") {
                out.push_str(
                    physical
                        .attrs
                        .get(name)
                        .with_context(|| format!("!Sub ${{{name}}}: not emulated"))?,
                );
            } else {
                out.push_str(&self.reference(name, physical)?);
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }
}

fn pseudo(name: &str, stage: &str) -> Option<String> {
    Some(match name {
        "AWS::AccountId" => ACCOUNT.to_owned(),
        "AWS::Region" => REGION.to_owned(),
        "AWS::Partition" => "aws".to_owned(),
        "AWS::URLSuffix" => "amazonaws.com".to_owned(),
        "AWS::StackName" => format!("paspor-{stage}"),
        _ => return None,
    })
}

/// `rate(1 minute)`, `rate(5 minutes)`, `rate(1 hour)` in seconds.
pub fn rate_secs(expr: &str) -> Result<u64> {
    let inner = expr
        .strip_prefix("rate(")
        .and_then(|r| r.strip_suffix(')'))
        .with_context(|| format!("{expr}: only rate() schedules are emulated"))?;
    let (n, unit) = inner.split_once(' ').context("rate(N unit)")?;
    let n: u64 = n.parse().context("rate's N")?;
    let unit = match unit.trim_end_matches('s') {
        "minute" => 60,
        "hour" => 3600,
        "day" => 86400,
        other => bail!("rate unit {other}"),
    };
    Ok(n * unit)
}

trait IntoTagged {
    /// The text of a `!GetAtt X.Y` (or `!Ref X`) value.
    fn into_tagged(self) -> Option<String>;
}

impl IntoTagged for Yaml {
    fn into_tagged(self) -> Option<String> {
        match self {
            Yaml::Tagged(t) => t.value.as_str().map(str::to_owned),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template() -> Template {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../infra/template.yaml");
        Template::load(&path, &BTreeMap::new()).expect("template")
    }

    #[test]
    fn rates() {
        assert_eq!(rate_secs("rate(1 minute)").expect("rate"), 60);
        assert_eq!(rate_secs("rate(5 minutes)").expect("rate"), 300);
        assert!(rate_secs("cron(0 * * * ? *)").is_err());
    }

    #[test]
    fn sub_resolves_parameters_pseudo_parameters_and_attributes() {
        let t = template();
        let mut physical = Physical::default();
        physical
            .attrs
            .insert("DocumentsBucket.Arn".into(), "arn:aws:s3:::b".into());
        let yaml: Yaml = serde_norway::from_str(
            "!Sub \"paspor-documents-${AWS::AccountId}-${AWS::Region}-${Stage} ${DocumentsBucket.Arn}/x ${!Literal}\"",
        )
        .expect("yaml");
        assert_eq!(
            t.resolve(&yaml, &physical).expect("resolve"),
            Json::String(
                "paspor-documents-123456789012-ap-southeast-3-dev arn:aws:s3:::b/x ${Literal}"
                    .into()
            )
        );
        let unknown: Yaml = serde_norway::from_str("!Ref Nothing").expect("yaml");
        assert!(t.resolve(&unknown, &physical).is_err());
    }

    #[test]
    fn reads_every_function_with_its_events() {
        let t = template();
        let mut physical = Physical::default();
        for (logical, _) in t.resources() {
            physical
                .refs
                .insert(logical.to_owned(), format!("ref-{logical}"));
            for attr in ["Arn", "QueueName"] {
                physical
                    .attrs
                    .insert(format!("{logical}.{attr}"), format!("{attr}-{logical}"));
            }
        }
        let functions = t.functions(&physical).expect("functions");
        assert_eq!(functions.len(), 11);
        let booking = functions
            .iter()
            .find(|f| f.binary == "booking")
            .expect("booking");
        assert_eq!(booking.env["PASPOR_PAYMENT_TTL_SECS"], "7200");
        assert_eq!(booking.env["PASPOR_TABLE"], "ref-Table");
        assert!(
            booking
                .http
                .iter()
                .any(|r| r.method == "POST" && r.path == "/v1/applications/{id}/booking")
        );
        let worker = functions
            .iter()
            .find(|f| f.binary == "worker")
            .expect("worker");
        // The jobs, the upload checks and the draw's emails ten at a time; the draw's
        // batches one at a time.
        assert!(worker.sqs.iter().all(|m| m.report_failures));
        assert_eq!(
            worker.sqs.iter().map(|m| m.batch_size).collect::<Vec<_>>(),
            [10, 10, 1, 10]
        );
        let sweeper = functions
            .iter()
            .find(|f| f.binary == "sweeper")
            .expect("sweeper");
        assert_eq!(sweeper.schedule_secs, Some(60));
        assert!(!booking.statements.is_empty());
        let queues = t.queues().expect("queues");
        let jobs = queues
            .iter()
            .find(|q| q.logical == "JobsQueue")
            .expect("jobs");
        assert_eq!(jobs.redrive, Some(("JobsDeadLetters".to_owned(), 5)));
        assert_eq!(t.api(&physical).expect("api").stage, "dev");
    }
}
