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
