//! The SAM template serves every route of every function, each by the function whose
//! router serves it, and nothing else; `/v1/ops/` routes are IAM-only.

use std::collections::BTreeSet;

use serde_norway::Value;

fn template() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../infra/template.yaml");
    serde_norway::from_str(&std::fs::read_to_string(path).expect("read template"))
        .expect("parse template")
}

#[test]
fn every_route_is_mapped_to_its_function_both_ways() {
    let functions: [(&str, paspor_http::Routes); 8] = [
        ("accounts", paspor_accounts::routes()),
        ("otp", paspor_otp::routes()),
        ("applications", paspor_applications::routes()),
        ("uploads", paspor_uploads::routes()),
        ("booking", paspor_booking::routes()),
        ("billing", paspor_billing::routes()),
        ("payments", paspor_payments::routes()),
        ("operators", paspor_operators::routes()),
    ];
    let t = template();
    let resources = t["Resources"].as_mapping().expect("Resources");
    let mut mapped = BTreeSet::new();
    let mut binaries = BTreeSet::new();
    for (_, resource) in resources {
        if resource["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        let binary = resource["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .expect("Binary")
            .to_owned();
        binaries.insert(binary.clone());
        let Some(events) = resource["Properties"]["Events"].as_mapping() else {
            continue;
        };
        for (_, event) in events {
            if event["Type"].as_str() != Some("HttpApi") {
                continue;
            }
            let props = &event["Properties"];
            if props["Path"].is_null() && props["Method"].is_null() {
                // SAM's `$default` route: what no route matches gets a router's
                // problem+json 404. Only one, on the accounts function.
                assert_eq!(binary, "accounts", "the $default route");
                assert!(mapped.insert((binary.clone(), "ANY".into(), "$default".into())));
                continue;
            }
            let method = props["Method"].as_str().expect("Method").to_owned();
            let path = props["Path"].as_str().expect("Path").to_owned();
            let iam = props["Auth"]["Authorizer"].as_str() == Some("AWS_IAM");
            assert_eq!(
                iam,
                path.starts_with("/v1/ops/"),
                "{method} {path}: IAM exactly on the ops routes"
            );
            mapped.insert((binary.clone(), method, path));
        }
    }
    let mut served: BTreeSet<(String, String, String)> = functions
        .iter()
        .flat_map(|(name, routes)| {
            routes
                .list()
                .iter()
                .map(move |(m, p)| ((*name).to_owned(), m.to_string(), (*p).to_owned()))
        })
        .collect();
    // The web client is a router of its own (its page needs its own CSP); API Gateway
    // spells axum's greedy `{*path}` as `{proxy+}`.
    served.extend(paspor_web::ROUTES.iter().map(|(m, p)| {
        (
            "web".to_owned(),
            m.to_string(),
            p.replace("{*path}", "{proxy+}"),
        )
    }));
    served.insert(("accounts".into(), "ANY".into(), "$default".into()));
    let unmapped: Vec<_> = served.difference(&mapped).collect();
    let stray: Vec<_> = mapped.difference(&served).collect();
    assert!(
        unmapped.is_empty(),
        "served but not in the template: {unmapped:?}"
    );
    assert!(
        stray.is_empty(),
        "in the template but not served by that function: {stray:?}"
    );
    for name in [
        "accounts",
        "otp",
        "applications",
        "uploads",
        "booking",
        "billing",
        "payments",
        "operators",
        "worker",
        "sweeper",
        "web",
    ] {
        assert!(binaries.contains(name), "function {name} is not deployed");
    }
}

#[test]
fn the_data_is_private_durable_and_encrypted() {
    let t = template();
    let table = &t["Resources"]["Table"]["Properties"];
    assert_eq!(
        table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"].as_bool(),
        Some(true)
    );
    assert_eq!(
        table["SSESpecification"]["SSEEnabled"].as_bool(),
        Some(true)
    );
    assert_eq!(table["DeletionProtectionEnabled"].as_bool(), Some(true));
    assert_eq!(
        table["TimeToLiveSpecification"]["AttributeName"].as_str(),
        Some("ttl")
    );
    let bucket = &t["Resources"]["DocumentsBucket"]["Properties"];
    for block in [
        "BlockPublicAcls",
        "BlockPublicPolicy",
        "IgnorePublicAcls",
        "RestrictPublicBuckets",
    ] {
        assert_eq!(
            bucket["PublicAccessBlockConfiguration"][block].as_bool(),
            Some(true),
            "{block}"
        );
    }
    assert!(bucket["BucketEncryption"].is_mapping());
    for queue in ["JobsQueue", "UploadChecksQueue"] {
        let dlq = &t["Resources"][queue]["Properties"]["RedrivePolicy"]["deadLetterTargetArn"];
        assert!(
            matches!(dlq, Value::Tagged(_)),
            "{queue} has a dead-letter queue: {dlq:?}"
        );
    }
}

// ------------------------------------------------------------------ helpers for the checks below

/// The value under `tag` (`Ref`, `GetAtt`, `Sub`, …), if `value` is that intrinsic.
fn intrinsic<'a>(value: &'a Value, tag: &str) -> Option<&'a Value> {
    match value {
        Value::Tagged(t) if t.tag == tag => Some(&t.value),
        Value::Mapping(m) if m.len() == 1 => m
            .get(format!("Fn::{tag}").as_str())
            .or_else(|| (tag == "Ref").then(|| m.get("Ref")).flatten()),
        _ => None,
    }
}

/// The logical id a `!Ref X` or `!GetAtt X.Attr` names.
fn names(value: &Value) -> Option<String> {
    if let Some(name) = intrinsic(value, "Ref").and_then(Value::as_str) {
        return Some(name.to_owned());
    }
    let target = intrinsic(value, "GetAtt")?;
    let dotted = match target {
        Value::Sequence(parts) => parts.first()?.as_str()?.to_owned(),
        other => other.as_str()?.split('.').next()?.to_owned(),
    };
    Some(dotted)
}

fn is_ref_to(value: &Value, name: &str) -> bool {
    names(value).as_deref() == Some(name)
}

fn strings(value: &Value) -> Vec<String> {
    match value {
        Value::String(s) => vec![s.clone()],
        Value::Sequence(items) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

fn allows_service_from_this_account(statement: &Value, service: &str) -> bool {
    statement["Effect"].as_str() == Some("Allow")
        && strings(&statement["Principal"]["Service"])
            .iter()
            .any(|s| s == service)
        && is_ref_to(
            &statement["Condition"]["StringEquals"]["aws:SourceAccount"],
            "AWS::AccountId",
        )
}

// ------------------------------------------------------------------ alarms reach someone

#[test]
fn alarm_topic_key_lets_cloudwatch_publish() {
    let t = template();
    let resources = &t["Resources"];
    let key_ref = &resources["AlarmTopic"]["Properties"]["KmsMasterKeyId"];
    let key_id = names(key_ref).unwrap_or_else(|| {
        panic!("the alarm topic's key is a key of this stack, not {key_ref:?}: CloudWatch cannot use the AWS-managed alias/aws/sns")
    });
    let key = &resources[key_id.as_str()];
    assert_eq!(key["Type"].as_str(), Some("AWS::KMS::Key"), "{key_id}");
    assert_eq!(
        key["Properties"]["EnableKeyRotation"].as_bool(),
        Some(true),
        "{key_id} rotates"
    );
    let statements = key["Properties"]["KeyPolicy"]["Statement"]
        .as_sequence()
        .expect("key policy");
    assert!(
        statements
            .iter()
            .any(|s| s["Effect"].as_str() == Some("Allow")
                && strings(&s["Action"]).iter().any(|a| a == "kms:*")
                && intrinsic(&s["Principal"]["AWS"], "Sub")
                    .and_then(Value::as_str)
                    .is_some_and(|arn| arn.ends_with(":iam::${AWS::AccountId}:root"))),
        "the account administers {key_id} (else the key is locked for good)"
    );
    let cloudwatch = statements
        .iter()
        .find(|s| allows_service_from_this_account(s, "cloudwatch.amazonaws.com"))
        .expect("the key policy lets cloudwatch.amazonaws.com of this account use the key");
    let actions = strings(&cloudwatch["Action"]);
    for action in ["kms:Decrypt", "kms:GenerateDataKey*"] {
        assert!(
            actions.iter().any(|a| a == action),
            "cloudwatch may {action}: {actions:?}"
        );
    }
    let policy = resources
        .as_mapping()
        .expect("Resources")
        .values()
        .find(|r| {
            r["Type"].as_str() == Some("AWS::SNS::TopicPolicy")
                && r["Properties"]["Topics"]
                    .as_sequence()
                    .is_some_and(|topics| topics.iter().any(|v| is_ref_to(v, "AlarmTopic")))
        })
        .expect("a topic policy on AlarmTopic");
    let statements = policy["Properties"]["PolicyDocument"]["Statement"]
        .as_sequence()
        .expect("statements");
    assert!(
        statements.iter().any(
            |s| allows_service_from_this_account(s, "cloudwatch.amazonaws.com")
                && strings(&s["Action"]).iter().any(|a| a == "sns:Publish")
                && is_ref_to(&s["Resource"], "AlarmTopic")
        ),
        "the topic policy lets cloudwatch.amazonaws.com of this account publish: {statements:?}"
    );
}

// ------------------------------------------------------------------ every function gets its settings

fn repo_file(path: &str) -> String {
    let full = format!("{}/../../{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("read {full}: {e}"))
}

/// Every function of the stack: (logical id, binary).
fn functions(t: &Value) -> Vec<(String, String)> {
    t["Resources"]
        .as_mapping()
        .expect("Resources")
        .iter()
        .filter(|(_, r)| r["Type"].as_str() == Some("AWS::Serverless::Function"))
        .map(|(k, r)| {
            let binary = r["Metadata"]["BuildProperties"]["Binary"]
                .as_str()
                .expect("Binary");
            (k.as_str().expect("id").to_owned(), binary.to_owned())
        })
        .collect()
}

fn env_names(function_properties: &Value) -> BTreeSet<String> {
    function_properties["Environment"]["Variables"]
        .as_mapping()
        .map(|m| {
            m.keys()
                .filter_map(|k| k.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The `"PASPOR_…"` names quoted in `source` between `from` and the end of that function.
fn env_reads(source: &str, from: &str) -> BTreeSet<String> {
    let start = source
        .find(from)
        .unwrap_or_else(|| panic!("{from} not found"));
    let body = &source[start..];
    let body = &body[..body.find("\n    }\n").expect("end of the function")];
    body.split('"')
        .skip(1)
        .step_by(2)
        .filter(|s| s.starts_with("PASPOR_") && !s.ends_with("_ENDPOINT"))
        .map(str::to_owned)
        .collect()
}

#[test]
fn retention_days_reach_every_function_that_reads_it() {
    let t = template();
    let retention =
        &t["Globals"]["Function"]["Environment"]["Variables"]["PASPOR_DOCUMENT_RETENTION_DAYS"];
    assert!(
        is_ref_to(retention, "DocumentRetentionDays"),
        "the retention is one parameter, set for every function in Globals: {retention:?}"
    );
    assert!(
        t["Parameters"]["DocumentRetentionDays"].is_mapping(),
        "parameter DocumentRetentionDays"
    );
    // Every knob the Lambda edge reads at a cold start: Settings::from_env for the routers and
    // the sweeper, AwsSettings::from_env (the required names; endpoints are the stand-ins') for
    // every function that talks to AWS.
    let settings = env_reads(&repo_file("shared/http/src/state.rs"), "pub fn from_env");
    let aws = env_reads(
        &repo_file("shared/adapters/src/aws/mod.rs"),
        "pub fn from_env",
    );
    assert!(
        settings.contains("PASPOR_DOCUMENT_RETENTION_DAYS"),
        "{settings:?}"
    );
    assert!(aws.contains("PASPOR_TABLE"), "{aws:?}");
    let globals = env_names(&t["Globals"]["Function"]);
    for (id, binary) in functions(&t) {
        let main = repo_file(&format!("functions/{binary}/src/main.rs"));
        let mut reads = BTreeSet::new();
        if main.contains("run_http") || main.contains("run_scheduled") {
            reads.extend(settings.iter().cloned());
        }
        if main.contains("paspor_lambda::") {
            reads.extend(aws.iter().cloned());
        }
        let own = env_names(&t["Resources"][id.as_str()]["Properties"]);
        for name in &reads {
            assert!(
                globals.contains(name) || own.contains(name),
                "{id} ({binary}) reads {name} but the template sets it neither in Globals nor on the function: it runs on the code's default"
            );
        }
        // What every function must agree on is set once.
        for shared in ["PASPOR_DOCUMENT_RETENTION_DAYS", "PASPOR_PAYMENT_TTL_SECS"] {
            assert!(
                !own.contains(shared),
                "{id} sets {shared} of its own; it belongs in Globals"
            );
        }
    }
}

// ------------------------------------------------------------------ alarms watch this stack

struct Watched<'a> {
    namespace: String,
    metric: String,
    dimensions: Vec<(String, &'a Value)>,
}

/// Every metric an alarm reads, whether it names one metric or does metric math.
fn watched(alarm: &Value) -> Vec<Watched<'_>> {
    let props = &alarm["Properties"];
    let specs: Vec<&Value> = match props["Metrics"].as_sequence() {
        Some(metrics) => metrics
            .iter()
            .filter(|m| m["MetricStat"].is_mapping())
            .map(|m| &m["MetricStat"]["Metric"])
            .collect(),
        None => vec![props],
    };
    specs
        .into_iter()
        .map(|spec| Watched {
            namespace: spec["Namespace"].as_str().expect("Namespace").to_owned(),
            metric: spec["MetricName"].as_str().expect("MetricName").to_owned(),
            dimensions: spec["Dimensions"]
                .as_sequence()
                .map(|dims| {
                    dims.iter()
                        .map(|d| (d["Name"].as_str().expect("Name").to_owned(), &d["Value"]))
                        .collect()
                })
                .unwrap_or_default(),
        })
        .collect()
}

fn alarms(t: &Value) -> Vec<(String, &Value)> {
    t["Resources"]
        .as_mapping()
        .expect("Resources")
        .iter()
        .filter(|(_, r)| r["Type"].as_str() == Some("AWS::CloudWatch::Alarm"))
        .map(|(k, r)| (k.as_str().expect("id").to_owned(), r))
        .collect()
}

#[test]
fn every_alarm_is_scoped_to_this_stack() {
    let t = template();
    let resources = t["Resources"].as_mapping().expect("Resources");
    for (id, alarm) in alarms(&t) {
        let metrics = watched(alarm);
        assert!(!metrics.is_empty(), "{id} watches no metric");
        for m in metrics {
            // SES reputation is the account's own, with no dimension to scope it: such an
            // alarm has a condition, so a second stage in the same account can leave it out.
            if m.namespace == "AWS/SES" {
                assert!(
                    alarm["Condition"].is_string(),
                    "{id}: an account-wide alarm has a Condition"
                );
                continue;
            }
            let scoped = m.dimensions.iter().any(|(_, value)| {
                names(value).is_some_and(|n| n == "Stage" || resources.contains_key(n.as_str()))
            });
            assert!(
                scoped,
                "{id}: {}/{} has no dimension naming a resource of this stack, so it watches the whole account",
                m.namespace, m.metric
            );
        }
        let actions = alarm["Properties"]["AlarmActions"]
            .as_sequence()
            .expect("AlarmActions");
        assert!(
            actions.iter().any(|a| is_ref_to(a, "AlarmTopic")),
            "{id} tells the alarm topic"
        );
    }
}

#[test]
fn every_function_has_its_own_error_and_throttle_alarms() {
    let t = template();
    let all = alarms(&t);
    for (function, _) in functions(&t) {
        for metric in ["Errors", "Throttles"] {
            let found = all.iter().any(|(_, alarm)| {
                watched(alarm).iter().any(|m| {
                    m.namespace == "AWS/Lambda"
                        && m.metric == metric
                        && m.dimensions
                            .iter()
                            .any(|(n, v)| n == "FunctionName" && is_ref_to(v, &function))
                })
            });
            assert!(found, "no alarm on {metric} of {function}");
        }
    }
}

#[test]
fn the_quiet_failures_have_alarms() {
    let t = template();
    let all = alarms(&t);
    let find = |namespace: &str, metric: &str, dimension: &str, of: &str| {
        all.iter()
            .find(|(_, alarm)| {
                watched(alarm).iter().any(|m| {
                    m.namespace == namespace
                        && m.metric == metric
                        && (dimension.is_empty()
                            || m.dimensions
                                .iter()
                                .any(|(n, v)| n == dimension && is_ref_to(v, of)))
                })
            })
            .map(|(_, alarm)| &alarm["Properties"])
            .unwrap_or_else(|| panic!("no alarm on {namespace} {metric} {dimension}={of}"))
    };
    // The sweeper stopped: no invocation is no data, and no data must page.
    let sweeper = find(
        "AWS/Lambda",
        "Invocations",
        "FunctionName",
        "SweeperFunction",
    );
    assert_eq!(
        sweeper["ComparisonOperator"].as_str(),
        Some("LessThanThreshold")
    );
    assert_eq!(sweeper["Threshold"].as_f64(), Some(1.0));
    assert_eq!(sweeper["TreatMissingData"].as_str(), Some("breaching"));
    // OTP emails late.
    let age = find(
        "AWS/SQS",
        "ApproximateAgeOfOldestMessage",
        "QueueName",
        "JobsQueue",
    );
    assert_eq!(
        age["ComparisonOperator"].as_str(),
        Some("GreaterThanThreshold")
    );
    assert!(
        age["Threshold"].as_f64().is_some_and(|s| s <= 300.0),
        "{:?}",
        age["Threshold"]
    );
    // Every dead-letter queue pages once anything lands in it, and every queue a function
    // consumes pages when its oldest message is late (the draw's batches among them).
    let resources = t["Resources"].as_mapping().expect("resources");
    let mut dead_letters = Vec::new();
    for (name, resource) in resources {
        if let Some(target) = resource["Properties"]["RedrivePolicy"].get("deadLetterTargetArn") {
            dead_letters.push(names(target).expect("a dead-letter queue by name"));
            let queue = name.as_str().expect("name");
            find(
                "AWS/SQS",
                "ApproximateAgeOfOldestMessage",
                "QueueName",
                queue,
            );
        }
    }
    assert!(dead_letters.len() >= 3, "{dead_letters:?}");
    for queue in &dead_letters {
        let alarm = find(
            "AWS/SQS",
            "ApproximateNumberOfMessagesVisible",
            "QueueName",
            queue,
        );
        assert_eq!(alarm["Threshold"].as_f64(), Some(0.0), "{queue}");
    }
    // DynamoDB throttling, reads and writes.
    find("AWS/DynamoDB", "ReadThrottleEvents", "TableName", "Table");
    find("AWS/DynamoDB", "WriteThrottleEvents", "TableName", "Table");
    // SES reputation, below the rates at which SES reviews the account.
    for (metric, threshold) in [
        ("Reputation.BounceRate", 0.05),
        ("Reputation.ComplaintRate", 0.001),
    ] {
        let ses = find("AWS/SES", metric, "", "");
        assert_eq!(ses["Threshold"].as_f64(), Some(threshold), "{metric}");
        assert_eq!(
            ses["ComparisonOperator"].as_str(),
            Some("GreaterThanThreshold"),
            "{metric}"
        );
    }
}

/// A dashboard metric row with CloudWatch's `.` and `...` shorthands spelled out.
fn expand(previous: &[String], row: &[serde_json::Value]) -> Vec<String> {
    let items: Vec<String> = row
        .iter()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect();
    if items.first().map(String::as_str) == Some("...") {
        let keep = previous.len().saturating_sub(items.len() - 1);
        return previous[..keep]
            .iter()
            .cloned()
            .chain(items[1..].iter().cloned())
            .collect();
    }
    items
        .iter()
        .enumerate()
        .map(|(i, s)| {
            if s == "." {
                previous.get(i).cloned().unwrap_or_default()
            } else {
                s.clone()
            }
        })
        .collect()
}

#[test]
fn dashboard_lambda_widgets_name_each_function() {
    let t = template();
    let body = intrinsic(
        &t["Resources"]["Dashboard"]["Properties"]["DashboardBody"],
        "Sub",
    )
    .and_then(Value::as_str)
    .expect("DashboardBody is a !Sub string");
    let body: serde_json::Value = serde_json::from_str(body).expect("the dashboard is JSON");
    let mut seen = BTreeSet::new();
    for widget in body["widgets"].as_array().expect("widgets") {
        let Some(rows) = widget["properties"]["metrics"].as_array() else {
            continue;
        };
        let mut previous: Vec<String> = Vec::new();
        for row in rows {
            let row = expand(&previous, row.as_array().expect("a metric row"));
            if row.first().map(String::as_str) == Some("AWS/Lambda") {
                let at = row.iter().position(|s| s == "FunctionName").unwrap_or_else(|| {
                    panic!("{}: {row:?} has no FunctionName: it sums every function of the account", widget["properties"]["title"])
                });
                seen.insert((row[1].clone(), row[at + 1].clone()));
            }
            previous = row;
        }
    }
    for (function, _) in functions(&t) {
        for metric in ["Errors", "Throttles"] {
            assert!(
                seen.contains(&(metric.to_owned(), format!("${{{function}}}"))),
                "the dashboard shows no {metric} of {function}"
            );
        }
    }
}

// ------------------------------------------------------------------ stages and origins

type Sections = std::collections::BTreeMap<String, std::collections::BTreeMap<String, String>>;

/// samconfig.toml as `section -> key -> value` (its strings, numbers and booleans only).
fn samconfig() -> Sections {
    let mut sections = Sections::new();
    let mut current = String::new();
    for line in repo_file("samconfig.toml").lines().map(str::trim) {
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            current = name.to_owned();
            sections.entry(current.clone()).or_default();
        } else if let Some((key, value)) = line.split_once('=') {
            if line.starts_with('#') {
                continue;
            }
            let value = value.trim();
            let value = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(value);
            sections
                .entry(current.clone())
                .or_default()
                .insert(key.trim().to_owned(), value.replace("\\\"", "\""));
        }
    }
    sections
}

/// `Key=Value` pairs of a `parameter_overrides` string (values may be double-quoted).
fn overrides(line: &str) -> std::collections::BTreeMap<String, String> {
    let mut out = std::collections::BTreeMap::new();
    let mut rest = line.trim();
    while let Some((key, tail)) = rest.split_once('=') {
        let (value, tail) = match tail.strip_prefix('"') {
            Some(quoted) => quoted.split_once('"').expect("closing quote"),
            None => tail.split_once(' ').unwrap_or((tail, "")),
        };
        out.insert(key.trim().to_owned(), value.to_owned());
        rest = tail.trim();
    }
    out
}

#[derive(Debug, Clone, PartialEq)]
enum Eval {
    Bool(bool),
    Str(String),
    List(Vec<String>),
}

/// Evaluates the rule functions CloudFormation allows in `Rules` over some parameter values.
fn eval(value: &Value, params: &std::collections::BTreeMap<&str, Eval>) -> Eval {
    let args = |tag: &str| intrinsic(value, tag).and_then(Value::as_sequence);
    if let Some(name) = intrinsic(value, "Ref").and_then(Value::as_str) {
        return params
            .get(name)
            .cloned()
            .unwrap_or_else(|| panic!("no value for {name}"));
    }
    if let Some([a, b]) = args("Equals").map(Vec::as_slice) {
        return Eval::Bool(eval(a, params) == eval(b, params));
    }
    if let Some([a]) = args("Not").map(Vec::as_slice) {
        return Eval::Bool(eval(a, params) == Eval::Bool(false));
    }
    if let Some(all) = args("And") {
        return Eval::Bool(all.iter().all(|v| eval(v, params) == Eval::Bool(true)));
    }
    if let Some(any) = args("Or") {
        return Eval::Bool(any.iter().any(|v| eval(v, params) == Eval::Bool(true)));
    }
    if let Some([list, item]) = args("Contains").map(Vec::as_slice) {
        let Eval::List(list) = eval(list, params) else {
            panic!("Contains takes a list")
        };
        let Eval::Str(item) = eval(item, params) else {
            panic!("Contains looks for a string")
        };
        return Eval::Bool(list.contains(&item));
    }
    match value {
        Value::String(s) => Eval::Str(s.clone()),
        Value::Bool(b) => Eval::Bool(*b),
        Value::Sequence(items) => Eval::List(strings(&Value::Sequence(items.clone()))),
        other => panic!("a rule function this test does not know: {other:?}"),
    }
}

/// Whether CloudFormation would accept these parameter values under the template's Rules.
fn rules_accept(t: &Value, stage: &str, origins: &[&str]) -> bool {
    let params = std::collections::BTreeMap::from([
        ("Stage", Eval::Str(stage.to_owned())),
        (
            "AllowedOrigins",
            Eval::List(origins.iter().map(|s| (*s).to_owned()).collect()),
        ),
    ]);
    let Some(rules) = t["Rules"].as_mapping() else {
        return true;
    };
    rules.values().all(|rule| {
        let applies = rule["RuleCondition"].is_null()
            || eval(&rule["RuleCondition"], &params) == Eval::Bool(true);
        !applies
            || rule["Assertions"]
                .as_sequence()
                .expect("Assertions")
                .iter()
                .all(|a| eval(&a["Assert"], &params) == Eval::Bool(true))
    })
}

#[test]
fn prod_origins_are_not_star() {
    let t = template();
    // Both CORS configurations take the one parameter the rule checks.
    let api = &t["Resources"]["HttpApi"]["Properties"]["CorsConfiguration"]["AllowOrigins"];
    let bucket = &t["Resources"]["DocumentsBucket"]["Properties"]["CorsConfiguration"]["CorsRules"]
        [0]["AllowedOrigins"];
    assert!(is_ref_to(api, "AllowedOrigins") && is_ref_to(bucket, "AllowedOrigins"));
    let default = t["Parameters"]["AllowedOrigins"]["Default"]
        .as_str()
        .unwrap_or("*");
    let default: Vec<&str> = default.split(',').collect();
    assert!(
        !rules_accept(&t, "prod", &["*"]),
        "a prod stack with AllowedOrigins=* is refused"
    );
    assert!(
        !rules_accept(&t, "prod", &["https://a.example", "*"]),
        "… also among others"
    );
    assert!(
        !rules_accept(&t, "prod", &default),
        "prod does not deploy on the default {default:?}"
    );
    let prod = overrides(&samconfig()["prod.deploy.parameters"]["parameter_overrides"]);
    let origins = prod
        .get("AllowedOrigins")
        .expect("samconfig's prod section names its origins");
    let origins: Vec<&str> = origins.split(',').map(str::trim).collect();
    for origin in &origins {
        assert!(
            origin.starts_with("https://") && !origin.contains('*'),
            "prod origin {origin}"
        );
    }
    assert!(
        rules_accept(&t, "prod", &origins),
        "prod's own origins pass the rule"
    );
    assert!(rules_accept(&t, "dev", &["*"]), "dev may stay open");
}

fn stages(t: &Value) -> Vec<String> {
    strings(&t["Parameters"]["Stage"]["AllowedValues"])
}

#[test]
fn every_stage_has_its_own_samconfig_section() {
    let t = template();
    let config = samconfig();
    let mut stacks = BTreeSet::new();
    for stage in stages(&t) {
        let deploy = config
            .get(&format!("{stage}.deploy.parameters"))
            .unwrap_or_else(|| panic!("samconfig.toml has no [{stage}.deploy.parameters]"));
        let stack = deploy
            .get("stack_name")
            .or_else(|| {
                config
                    .get(&format!("{stage}.global.parameters"))?
                    .get("stack_name")
            })
            .unwrap_or_else(|| panic!("{stage} has no stack_name"));
        assert_eq!(stack, &format!("paspor-{stage}"));
        assert!(
            stacks.insert(stack.clone()),
            "two stages deploy into {stack}"
        );
        assert!(deploy.contains_key("region"), "{stage} names its region");
        let params = overrides(deploy.get("parameter_overrides").map_or("", String::as_str));
        assert_eq!(params.get("Stage"), Some(&stage), "{stage}'s Stage");
        assert_eq!(
            params.get("SsmPrefix"),
            Some(&format!("/paspor/{stage}")),
            "{stage}'s SsmPrefix"
        );
        assert!(
            config
                .get(&format!("{stage}.build.parameters"))
                .is_some_and(|b| b.contains_key("template_file")),
            "{stage} builds infra/template.yaml"
        );
    }
}

/// Runs scripts/deploy with stand-in `aws` and `sam` first on the PATH (they log their
/// arguments and succeed), so no real account is ever touched.
fn deploy(args: &[&str], env: &[(&str, &str)]) -> (std::process::Output, Vec<String>) {
    use std::os::unix::fs::PermissionsExt;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_nanos();
    let dir = std::env::temp_dir().join(format!("paspor-deploy-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let log = dir.join("calls.log");
    for tool in ["aws", "sam"] {
        let path = dir.join(tool);
        std::fs::write(
            &path,
            format!("#!/bin/sh\necho \"{tool} $*\" >> '{}'\n", log.display()),
        )
        .expect("stand-in");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    let path = format!(
        "{}:{}",
        dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut command = std::process::Command::new("bash");
    command
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/deploy"))
        .args(args)
        .env("PATH", path)
        .env_remove("AWS_REGION")
        .env_remove("AWS_PROFILE")
        .env_remove("PASPOR_MAIL_FROM");
    for (k, v) in env {
        command.env(k, v);
    }
    let output = command.output().expect("run scripts/deploy");
    let calls = std::fs::read_to_string(&log)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect();
    let _ = std::fs::remove_dir_all(&dir);
    (output, calls)
}

#[test]
fn deploy_refuses_a_stage_without_its_section() {
    let (output, calls) = deploy(&["qa"], &[]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success(),
        "scripts/deploy qa must fail; it called {calls:?}"
    );
    assert!(
        calls.is_empty(),
        "nothing runs for a stage without a section: {calls:?}"
    );
    assert!(stderr.contains("qa"), "says which stage: {stderr}");

    for stage in stages(&template()) {
        for mail in [None, Some("no-reply@paspor.example")] {
            let env: Vec<(&str, &str)> =
                mail.map(|m| ("PASPOR_MAIL_FROM", m)).into_iter().collect();
            let (output, calls) = deploy(&[stage.as_str()], &env);
            assert!(
                output.status.success(),
                "scripts/deploy {stage}: {}",
                String::from_utf8_lossy(&output.stderr)
            );
            let sam: Vec<&String> = calls.iter().filter(|c| c.starts_with("sam ")).collect();
            assert_eq!(sam.len(), 2, "{calls:?}");
            for call in &sam {
                assert!(
                    call.contains(&format!("--config-env {stage}")),
                    "{stage}: {call}"
                );
            }
            // SAM replaces the section's parameter_overrides with the command line's, so the
            // command line carries them all or none.
            let deploy = sam[1];
            if let Some((_, given)) = deploy.split_once("--parameter-overrides ") {
                let given = overrides(given);
                assert_eq!(given.get("Stage"), Some(&stage), "{deploy}");
                assert!(given.contains_key("SsmPrefix"), "{deploy}");
                if stage == "prod" {
                    assert!(given.contains_key("AllowedOrigins"), "{deploy}");
                }
            }
            assert_eq!(
                mail.is_some(),
                deploy.contains("MailFrom=no-reply@paspor.example"),
                "{deploy}"
            );
            for aws in calls.iter().filter(|c| c.starts_with("aws ")) {
                assert!(
                    aws.contains(&format!("/paspor/{stage}/")),
                    "{stage}'s secrets: {aws}"
                );
                assert!(
                    aws.contains("--region ap-southeast-3"),
                    "the section's region: {aws}"
                );
            }
        }
    }
}

// ------------------------------------------------------------------ access logs

#[test]
fn access_logs_carry_the_request_id() {
    let t = template();
    let settings = &t["Resources"]["HttpApi"]["Properties"]["AccessLogSettings"];
    let group =
        names(&settings["DestinationArn"]).expect("access logs go to a log group of this stack");
    let group = &t["Resources"][group.as_str()];
    assert_eq!(group["Type"].as_str(), Some("AWS::Logs::LogGroup"));
    assert!(is_ref_to(
        &group["Properties"]["RetentionInDays"],
        "LogRetentionDays"
    ));
    let format: serde_json::Value =
        serde_json::from_str(settings["Format"].as_str().expect("Format"))
            .expect("the format is JSON");
    let fields: BTreeSet<&str> = format
        .as_object()
        .expect("one JSON object a request")
        .values()
        .filter_map(serde_json::Value::as_str)
        .collect();
    for variable in [
        "$context.requestId",
        "$context.routeKey",
        "$context.status",
        "$context.integrationLatency",
        "$context.responseLatency",
        "$context.identity.sourceIp",
        "$context.integrationErrorMessage",
        "$context.identity.userAgent",
    ] {
        assert!(
            fields.contains(variable),
            "the access log has no {variable}: {fields:?}"
        );
    }
}
