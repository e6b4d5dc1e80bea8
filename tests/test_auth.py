"""Identity: every ADC path through the real google-auth against local fakes, the startup race, and secret hygiene.

Most scenarios run ``resolve_identity`` in a fresh ``python -c`` process, as production does: google-auth reads
``GCE_METADATA_HOST`` at import, and a fresh process also gives a clean environment. The child logs *everything*
(root and ``google`` loggers at DEBUG, every record attribute printed), and every run is checked afterwards: none
of the tokens, refresh tokens, keys or subject tokens the fakes issued or received appears in its output, and no
file appeared or changed in its home, temp, working or gcloud directories.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth.credentials import AnonymousCredentials
from structlog.testing import capture_logs

from tests.fixtures.fake_google import (
    CLOUD_PLATFORM,
    TOKEN_EXCHANGE_GRANT,
    FakeIAMCredentials,
    FakeMetadataServer,
    FakeOAuth,
    FakeServer,
    FakeSTS,
    fake_jwt,
)
from vertex_launcher.auth import resolve_identity
from vertex_launcher.clock import FakeClock
from vertex_launcher.errors import AuthError, ConfigError
from vertex_launcher.redaction import redact_text as redact
from vertex_launcher.settings import Settings

F = TypeVar("F", bound=FakeServer)

PROJECT_NUMBER = "123456789012"
AUDIENCE = (
    f"//iam.googleapis.com/projects/{PROJECT_NUMBER}/locations/global/workloadIdentityPools/k8s-pool/providers/cluster"
)
POOL_PRINCIPAL = (
    f"principal://iam.googleapis.com/projects/{PROJECT_NUMBER}/locations/global/workloadIdentityPools/k8s-pool"
)
KSA_SUBJECT = "system:serviceaccount:batch:vertex-launcher"
RUNNER = "vertex-runner@demo-project.iam.gserviceaccount.com"
JWT_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:jwt"

# The child: worst-case logging, then resolve_identity exactly as __main__ calls it, then a JSON summary line.
CHILD = r"""
import json, logging, sys
from pathlib import Path

class EveryAttribute(logging.Formatter):
    def format(self, record):
        return "LOG " + json.dumps({key: repr(value) for key, value in vars(record).items()})

handler = logging.StreamHandler(sys.stderr)
handler.setFormatter(EveryAttribute())
logging.getLogger().addHandler(handler)
logging.getLogger().setLevel(logging.DEBUG)
logging.getLogger("google").setLevel(logging.DEBUG)

args = json.loads(sys.argv[1])
if args.pop("oauth_token_endpoint", None):
    # google-auth ignores an authorized_user file's token_uri ("always overrides"): this is the only way to
    # send a gcloud user login's refresh to a local fake. Test-only; resolve_identity is unchanged.
    import google.oauth2.credentials
    google.oauth2.credentials._GOOGLE_OAUTH2_TOKEN_ENDPOINT = sys.argv[2]

from vertex_launcher.auth import resolve_identity
from vertex_launcher.clock import SystemClock
from vertex_launcher.errors import AuthError
from vertex_launcher.settings import Settings

settings = Settings(region="us-central1", image_uri="example/trainer:1", **args.pop("settings"))
if "k8s_token_file" in args:
    args["k8s_token_file"] = Path(args["k8s_token_file"])
clock = SystemClock()
try:
    identity = resolve_identity(settings, clock=clock, **args)
except AuthError as exc:
    print(json.dumps({"error": exc.message, "exit_code": int(exc.exit_code), "elapsed": clock.monotonic()}))
    sys.exit(int(exc.exit_code))
print(repr(identity))
print(json.dumps({
    "source": identity.source,
    "principal": identity.principal,
    "project": identity.project,
    "source_principal": identity.source_principal,
    "token_valid": identity.credentials.valid,
}))
"""


@dataclass
class ChildRun:
    """Output of one child process."""

    returncode: int
    stdout: str
    stderr: str

    @property
    def result(self) -> dict[str, Any]:
        """The JSON summary (last stdout line)."""
        parsed: dict[str, Any] = json.loads(self.stdout.strip().splitlines()[-1])
        return parsed

    @property
    def error(self) -> str:
        """The AuthError message of a failed run."""
        assert self.returncode == 3, self.stdout + self.stderr
        return str(self.result["error"])


@dataclass
class Sandbox:
    """A throwaway home/temp/work/gcloud tree for a child process, the fakes it talks to, and the secrets in play."""

    root: Path
    fakes: list[FakeServer] = field(default_factory=list)
    secrets: list[str] = field(default_factory=list)

    def start(self, fake: F) -> F:
        """Start a fake (stopped at teardown) and watch every token it issues."""
        self.fakes.append(fake.start())
        return fake

    def write(self, name: str, content: str) -> Path:
        """An input file (a credential config, a token file) outside the watched directories."""
        path = self.root / "inputs" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
        return path

    def metadata_env(self, mds: FakeMetadataServer) -> dict[str, str]:
        """Point google-auth's metadata lookups at a fake (it reads these at import time)."""
        return {"GCE_METADATA_HOST": mds.host, "GCE_METADATA_IP": mds.host}

    def run(
        self, *, env: dict[str, str] | None = None, settings: dict[str, Any] | None = None, **kwargs: Any
    ) -> ChildRun:
        """Run resolve_identity in a child, then check it leaked no secret and wrote no file."""
        watched = [self.root / name for name in ("home", "tmp", "work", "gcloud")]
        for directory in watched:
            directory.mkdir(exist_ok=True)
        child_env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.root / "home"),
            "TMPDIR": str(self.root / "tmp"),
            "CLOUDSDK_CONFIG": str(self.root / "gcloud"),
            "PYTHONDONTWRITEBYTECODE": "1",
            "NO_GCE_CHECK": "true",  # overridden below when a scenario has a metadata server
            **(env or {}),
        }
        if "GCE_METADATA_HOST" in child_env:
            child_env.pop("NO_GCE_CHECK")
        args = {"settings": settings or {}, **kwargs}
        oauth = kwargs.get("oauth_token_endpoint") or ""
        before = _snapshot(watched)
        done = subprocess.run(
            [sys.executable, "-c", CHILD, json.dumps(args), oauth],
            env=child_env,
            cwd=self.root / "work",
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        run = ChildRun(done.returncode, done.stdout, done.stderr)
        assert done.returncode in (0, 3), run.stdout + run.stderr
        secrets = [*self.secrets, *(token for fake in self.fakes for token in fake.issued)]
        leaked = [secret for secret in secrets if secret in run.stdout or secret in run.stderr]
        assert not leaked, f"secrets in the output: {leaked}"
        assert _snapshot(watched) == before, "the run wrote or changed files"
        return run


def _snapshot(directories: list[Path]) -> dict[str, tuple[int, int]]:
    return {
        str(path): (path.stat().st_size, path.stat().st_mtime_ns)
        for directory in directories
        for path in directory.rglob("*")
    }


@pytest.fixture(name="sandbox")
def _sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    sandbox = Sandbox(tmp_path)
    yield sandbox
    for fake in sandbox.fakes:
        fake.stop()


def _wif_config(sandbox: Sandbox, sts: FakeSTS, *, impersonate: str | None = None) -> Path:
    """A projected KSA token and the external_account file `create-cred-config` would write for it."""
    subject_token = fake_jwt(
        {
            "iss": "https://kubernetes.default.svc.cluster.local",
            "sub": KSA_SUBJECT,
            "aud": [AUDIENCE.replace("//", "https://", 1)],
            "exp": 4102444800,
        }
    )
    sandbox.secrets.append(subject_token)
    token_file = sandbox.write("var/run/secrets/gcp/token", subject_token)
    config: dict[str, Any] = {
        "universe_domain": "googleapis.com",
        "type": "external_account",
        "audience": AUDIENCE,
        "subject_token_type": JWT_TOKEN_TYPE,
        "token_url": sts.token_url,
        "credential_source": {"file": str(token_file), "format": {"type": "text"}},
    }
    if impersonate:
        iam = sandbox.start(FakeIAMCredentials())
        config["service_account_impersonation_url"] = iam.generate_url(impersonate)
    return sandbox.write("credential-configuration.json", json.dumps(config))


def _user_login(sandbox: Sandbox, oauth: FakeOAuth) -> Path:
    """The file `gcloud auth application-default login` writes."""
    sandbox.secrets += [oauth.refresh_token, oauth.client_secret]
    login = {
        "account": "",
        "client_id": "764086051850-fake.apps.googleusercontent.com",
        "client_secret": oauth.client_secret,
        "quota_project_id": "demo-project",
        "refresh_token": oauth.refresh_token,
        "type": "authorized_user",
        "universe_domain": "googleapis.com",
    }
    return sandbox.write("application_default_credentials.json", json.dumps(login))


# --- GKE Workload Identity (metadata server) -------------------------------------------------------------------


def test_gke_workload_identity_takes_token_principal_and_project_from_the_metadata_server(sandbox: Sandbox) -> None:
    """On GKE the metadata server yields the token, the Google service account's email and the project."""
    mds = sandbox.start(FakeMetadataServer())
    run = sandbox.run(env=sandbox.metadata_env(mds), settings={"credentials_wait_seconds": 0})
    assert run.result == {
        "source": "gce_metadata",
        "principal": mds.email,
        "project": "demo-project",
        "source_principal": None,
        "token_valid": True,
    }
    assert len(mds.issued) == 1
    assert mds.calls("/token")[0].query["scopes"] == [CLOUD_PLATFORM]
    assert all(request.headers.get("metadata-flavor") == "Google" for request in mds.requests)


def test_a_server_that_does_not_answer_with_metadata_flavor_is_not_trusted(sandbox: Sandbox) -> None:
    """Something at the metadata address that lacks `Metadata-Flavor: Google` is never asked for a token."""
    mds = sandbox.start(FakeMetadataServer(answer_flavor=False))
    run = sandbox.run(env=sandbox.metadata_env(mds), settings={"credentials_wait_seconds": 0})
    assert run.error.startswith("finding Application Default Credentials failed: ")
    assert f"no metadata server answered at {mds.host}" in run.error
    assert mds.calls("/token") == []


def test_gke_direct_principal_binding_is_reported_as_the_ksa_principal(sandbox: Sandbox) -> None:
    """Without a Google service account, the principal is the KSA's principal:// identifier that IAM grants name."""
    mds = sandbox.start(FakeMetadataServer(email="demo-project.svc.id.goog"))
    ksa_token = fake_jwt({"iss": "https://container.googleapis.com/v1/projects/demo-project", "sub": KSA_SUBJECT})
    sandbox.secrets.append(ksa_token)
    run = sandbox.run(
        env=sandbox.metadata_env(mds),
        settings={"credentials_wait_seconds": 0},
        k8s_token_file=str(sandbox.write("ksa-token", ksa_token)),
    )
    assert run.result["principal"] == (
        f"principal://iam.googleapis.com/projects/{PROJECT_NUMBER}/locations/global/workloadIdentityPools/"
        "demo-project.svc.id.goog/subject/ns/batch/sa/vertex-launcher"
    )


def test_impersonation_on_top_of_gke_calls_generate_access_token_with_the_metadata_token(sandbox: Sandbox) -> None:
    """IMPERSONATE_SERVICE_ACCOUNT: the pod's token buys the target's token at the IAM Credentials endpoint."""
    mds = sandbox.start(FakeMetadataServer())
    iam = sandbox.start(FakeIAMCredentials())
    run = sandbox.run(
        env=sandbox.metadata_env(mds),
        settings={"credentials_wait_seconds": 0, "impersonate_service_account": RUNNER},
        iam_credentials_endpoint=iam.endpoint,
    )
    assert run.result == {
        "source": "gce_metadata + impersonation",
        "principal": RUNNER,
        "project": "demo-project",
        "source_principal": mds.email,
        "token_valid": True,
    }
    [call] = iam.calls(":generateAccessToken")
    assert call.path == f"/v1/projects/-/serviceAccounts/{RUNNER}:generateAccessToken"
    assert call.bearer in mds.issued
    assert call.json()["scope"] == [CLOUD_PLATFORM]


# --- the startup race ----------------------------------------------------------------------------------------------


def test_a_metadata_server_that_answers_503_at_first_is_waited_for(sandbox: Sandbox) -> None:
    """A new pod's metadata server that is not ready yet: the launcher retries, logs why, then succeeds."""
    mds = sandbox.start(FakeMetadataServer(unavailable_for=2))
    run = sandbox.run(env=sandbox.metadata_env(mds), settings={"credentials_wait_seconds": 30})
    assert run.result["principal"] == mds.email
    assert mds.unavailable_answers == 2
    assert run.stdout.count("credentials not ready; retrying") == 2


def test_a_metadata_server_that_drops_connections_at_first_is_waited_for(sandbox: Sandbox) -> None:
    """Connections dropped while the metadata server starts are retried like 503s."""
    mds = sandbox.start(FakeMetadataServer(unavailable_for=2, unavailable_mode="drop"))
    # One google-auth probe per attempt, so that each dropped connection is one of the launcher's own retries.
    env = {**sandbox.metadata_env(mds), "GCE_METADATA_DETECT_RETRIES": "1"}
    run = sandbox.run(env=env, settings={"credentials_wait_seconds": 30})
    assert run.result["source"] == "gce_metadata"
    assert run.stdout.count("credentials not ready; retrying") == 2


def test_a_metadata_server_that_never_comes_up_fails_with_exit_3_after_the_wait(sandbox: Sandbox) -> None:
    """After CREDENTIALS_WAIT_SECONDS the run fails, naming the source tried and what to check."""
    mds = sandbox.start(FakeMetadataServer(unavailable_for=10**6))
    run = sandbox.run(env=sandbox.metadata_env(mds), settings={"credentials_wait_seconds": 1})
    assert run.result["exit_code"] == 3
    assert run.result["elapsed"] >= 1
    assert run.error.startswith("finding Application Default Credentials failed (after ")
    for clue in (mds.host, "iam.gke.io/gcp-service-account", "GKE_METADATA", "CREDENTIALS_WAIT_SECONDS"):
        assert clue in run.error
    assert "\n" not in run.error


def test_a_gke_metadata_server_that_refuses_the_token_names_the_workload_identity_binding(sandbox: Sandbox) -> None:
    """GKE's 403 for a KSA that may not act as its Google SA ends in a message naming workloadIdentityUser."""
    denied = "Permission 'iam.serviceAccounts.getAccessToken' denied on resource (or it may not exist)."
    mds = sandbox.start(FakeMetadataServer(token_error=(403, denied)))
    run = sandbox.run(env=sandbox.metadata_env(mds), settings={"credentials_wait_seconds": 0.3})
    assert run.error.startswith(f"fetching an access token from the metadata server at {mds.host} failed")
    assert denied in run.error
    assert "roles/iam.workloadIdentityUser" in run.error


# --- Workload Identity Federation off GKE (external_account) -----------------------------------------------------


def test_workload_identity_federation_exchanges_the_projected_token_at_sts(sandbox: Sandbox) -> None:
    """An external_account file: the projected KSA token is exchanged at STS; the principal is the pool subject."""
    sts = sandbox.start(FakeSTS())
    config = _wif_config(sandbox, sts)
    run = sandbox.run(
        env={"GOOGLE_APPLICATION_CREDENTIALS": str(config), "GOOGLE_CLOUD_PROJECT": "demo-project"},
        settings={"credentials_wait_seconds": 0},
    )
    assert run.result == {
        "source": "external_account",
        "principal": f"{POOL_PRINCIPAL}/subject/{KSA_SUBJECT}",
        "project": "demo-project",
        "source_principal": None,
        "token_valid": True,
    }
    [exchange] = sts.calls("/v1/token")
    form = exchange.form()
    assert form["grant_type"] == TOKEN_EXCHANGE_GRANT
    assert form["audience"] == AUDIENCE
    assert form["scope"] == CLOUD_PLATFORM
    assert form["subject_token_type"] == JWT_TOKEN_TYPE
    assert form["subject_token"] == sandbox.secrets[0]


def test_workload_identity_federation_can_impersonate_a_service_account(sandbox: Sandbox) -> None:
    """With service_account_impersonation_url the STS token buys the service account's token."""
    sts = sandbox.start(FakeSTS())
    config = _wif_config(sandbox, sts, impersonate=RUNNER)
    iam = next(fake for fake in sandbox.fakes if isinstance(fake, FakeIAMCredentials))
    run = sandbox.run(
        env={"GOOGLE_APPLICATION_CREDENTIALS": str(config), "GOOGLE_CLOUD_PROJECT": "demo-project"},
        settings={"credentials_wait_seconds": 0},
    )
    assert run.result["principal"] == RUNNER
    assert run.result["source_principal"] == f"{POOL_PRINCIPAL}/subject/{KSA_SUBJECT}"
    [call] = iam.calls(":generateAccessToken")
    assert call.bearer in sts.issued


def test_a_rejected_token_exchange_fails_at_once_naming_the_file_and_what_to_check(sandbox: Sandbox) -> None:
    """An STS refusal cannot heal by waiting: one exchange, then exit 3 with the token file and the checks."""
    sts = sandbox.start(FakeSTS(reject="The audience in ID Token does not match the expected audience."))
    config = _wif_config(sandbox, sts)
    run = sandbox.run(
        env={"GOOGLE_APPLICATION_CREDENTIALS": str(config), "GOOGLE_CLOUD_PROJECT": "demo-project"},
        settings={"credentials_wait_seconds": 30},
    )
    token_file = sandbox.root / "inputs/var/run/secrets/gcp/token"
    assert run.error.startswith(f"exchanging the token from {token_file} at {sts.token_url} failed: ")
    assert "invalid_grant" in run.error
    assert "audience" in run.error
    assert len(sts.calls()) == 1
    assert "retrying" not in run.stdout


# --- gcloud user login, key files, impersonation on top ---------------------------------------------------------


def test_a_gcloud_user_login_is_refreshed_and_names_the_user(sandbox: Sandbox) -> None:
    """A `gcloud auth application-default login` file (docker run) is refreshed; the id token names the user."""
    oauth = sandbox.start(FakeOAuth())
    run = sandbox.run(
        env={"GOOGLE_APPLICATION_CREDENTIALS": str(_user_login(sandbox, oauth))},
        settings={"credentials_wait_seconds": 0},
        oauth_token_endpoint=oauth.token_uri,
    )
    assert run.result["source"] == "authorized_user"
    assert run.result["principal"] == oauth.email
    assert run.result["token_valid"] is True
    assert oauth.calls("/token")[0].form()["grant_type"] == "refresh_token"


def test_impersonation_on_top_of_a_user_login_acts_as_the_service_account(sandbox: Sandbox) -> None:
    """A developer impersonates the launcher's service account: the user token buys the SA token."""
    oauth = sandbox.start(FakeOAuth())
    iam = sandbox.start(FakeIAMCredentials())
    run = sandbox.run(
        env={"GOOGLE_APPLICATION_CREDENTIALS": str(_user_login(sandbox, oauth))},
        settings={"credentials_wait_seconds": 0, "impersonate_service_account": RUNNER},
        iam_credentials_endpoint=iam.endpoint,
        oauth_token_endpoint=oauth.token_uri,
    )
    assert run.result["source"] == "authorized_user + impersonation"
    assert (run.result["principal"], run.result["source_principal"]) == (RUNNER, oauth.email)
    assert iam.calls()[0].bearer in oauth.issued


def test_impersonation_without_token_creator_fails_at_once_naming_the_grant(sandbox: Sandbox) -> None:
    """IAM's 403 names the missing getAccessToken permission; the message says which role grants it."""
    oauth = sandbox.start(FakeOAuth())
    iam = sandbox.start(FakeIAMCredentials(deny=True))
    run = sandbox.run(
        env={"GOOGLE_APPLICATION_CREDENTIALS": str(_user_login(sandbox, oauth))},
        settings={"credentials_wait_seconds": 30, "impersonate_service_account": RUNNER},
        iam_credentials_endpoint=iam.endpoint,
        oauth_token_endpoint=oauth.token_uri,
    )
    assert run.error.startswith(f"impersonating {RUNNER} as {oauth.email} failed: ")
    assert "iam.serviceAccounts.getAccessToken" in run.error
    assert "roles/iam.serviceAccountTokenCreator" in run.error
    assert len(iam.calls()) == 1


def test_an_expired_user_login_says_to_log_in_again(sandbox: Sandbox) -> None:
    """invalid_grant from the OAuth endpoint → the gcloud command that fixes it."""
    oauth = sandbox.start(FakeOAuth(reject="Token has been expired or revoked."))
    run = sandbox.run(
        env={"GOOGLE_APPLICATION_CREDENTIALS": str(_user_login(sandbox, oauth))},
        settings={"credentials_wait_seconds": 30},
        oauth_token_endpoint=oauth.token_uri,
    )
    assert "Token has been expired or revoked" in run.error
    assert "gcloud auth application-default login" in run.error


def test_a_service_account_key_file_works_and_is_reported_as_a_key(sandbox: Sandbox) -> None:
    """A key file still works (reported as service_account_key, so the log shows a key is in use)."""
    oauth = sandbox.start(FakeOAuth())
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    sandbox.secrets += [line for line in pem.splitlines() if "PRIVATE KEY" not in line]
    info = {
        "type": "service_account",
        "project_id": "demo-project",
        "private_key_id": "0123456789abcdef",
        "private_key": pem,
        "client_email": "ci@demo-project.iam.gserviceaccount.com",
        "client_id": "1234567890",
        "token_uri": oauth.token_uri,
    }
    run = sandbox.run(
        env={"GOOGLE_APPLICATION_CREDENTIALS": str(sandbox.write("key.json", json.dumps(info)))},
        settings={"credentials_wait_seconds": 0},
    )
    assert run.result["source"] == "service_account_key"
    assert run.result["principal"] == "ci@demo-project.iam.gserviceaccount.com"
    assert run.result["project"] == "demo-project"
    assertion = oauth.calls("/token")[0].form()["assertion"]
    assert assertion not in run.stdout + run.stderr


def test_a_missing_credential_file_fails_at_once(sandbox: Sandbox) -> None:
    """GOOGLE_APPLICATION_CREDENTIALS naming a file that is not there is not worth waiting for."""
    missing = sandbox.root / "inputs" / "nope.json"
    run = sandbox.run(env={"GOOGLE_APPLICATION_CREDENTIALS": str(missing)}, settings={"credentials_wait_seconds": 30})
    assert run.error.startswith(f"loading credentials from {missing} (GOOGLE_APPLICATION_CREDENTIALS) failed: ")
    assert "retrying" not in run.stdout


# --- secret hygiene --------------------------------------------------------------------------------------------


def test_the_leak_check_is_not_vacuous(sandbox: Sandbox) -> None:
    """The child really logs google-auth's DEBUG request records; only method and URL survive of them."""
    mds = sandbox.start(FakeMetadataServer())
    iam = sandbox.start(FakeIAMCredentials())
    run = sandbox.run(
        env=sandbox.metadata_env(mds),
        settings={"credentials_wait_seconds": 0, "impersonate_service_account": RUNNER},
        iam_credentials_endpoint=iam.endpoint,
    )
    requests_logged = [line for line in run.stderr.splitlines() if "Making request..." in line]
    assert any(":generateAccessToken" in line for line in requests_logged)
    assert not any("authorization" in line.lower() for line in requests_logged)
    assert iam.calls()[0].bearer in mds.issued  # a bearer token was really sent, and is absent from the logs


def test_a_token_inside_a_malformed_response_does_not_reach_the_error_message(sandbox: Sandbox) -> None:
    """google-auth quotes the response body in its error; the token in it is redacted."""
    mds = sandbox.start(FakeMetadataServer())
    iam = sandbox.start(FakeIAMCredentials(malformed=True))
    run = sandbox.run(
        env=sandbox.metadata_env(mds),
        settings={"credentials_wait_seconds": 0, "impersonate_service_account": RUNNER},
        iam_credentials_endpoint=iam.endpoint,
    )
    assert "invalid expiration" in run.error
    assert '"accessToken": "[REDACTED]"' in run.error
    assert iam.issued  # the token was issued — and the sandbox check found it nowhere


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ('{"access_token": "ya29.a0AfH6SM", "expires_in": 3599}', '"expires_in": 3599'),
        ("grant_type=refresh_token&refresh_token=1//0gabcdefghijklmnopqrstuvwxyz&client_id=x", "grant_type="),
        ("Authorization: Bearer abc.def-ghi", "Authorization: "),
        ("subject eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln was rejected", "was rejected"),
        ("-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBg\n-----END PRIVATE KEY----- tail", " tail"),
    ],
)
def test_redact_removes_token_values_and_keeps_the_rest(text: str, kept: str) -> None:
    """Values of token-ish keys, bearer tokens, JWTs, Google token shapes and PEM keys are replaced."""
    redacted = redact(text)
    assert "[REDACTED]" in redacted
    assert kept in redacted
    for secret in (
        "ya29.a0AfH6SM",
        "1//0gabcdefghijklmnopqrstuvwxyz",
        "abc.def-ghi",
        "eyJzdWIiOiJ4In0",
        "MIIEvQIBADANBg",
    ):
        assert secret not in redacted


# --- the wait loop in virtual time (in-process; discovery fails fast against a 503 metadata probe) --------------


@pytest.fixture(name="no_adc")
def _no_adc(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[FakeMetadataServer]:
    """No credential file, no gcloud login, and a metadata address that answers 503."""
    with FakeMetadataServer(unavailable_for=10**6) as mds:
        monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path))
        monkeypatch.setenv("GCE_METADATA_IP", mds.host)  # read per call by google-auth's probe
        yield mds


def _settings(**values: Any) -> Settings:
    return Settings(region="us-central1", image_uri="example/trainer:1", **values)


def test_the_wait_backs_off_on_the_clock_and_ends_at_the_deadline(no_adc: FakeMetadataServer) -> None:
    """Retries sleep 0.5, 1, 2, 4 … (capped at 5 s) through the Clock, and the last sleep ends at the deadline."""
    clock = FakeClock()
    with pytest.raises(AuthError, match=r"^finding Application Default Credentials failed \(after 6 attempts in 10s\)"):
        resolve_identity(_settings(credentials_wait_seconds=10), clock=clock)
    assert clock.sleeps == [0.5, 1.0, 2.0, 4.0, 2.5]
    assert no_adc.unavailable_answers == 6


def test_a_zero_wait_means_one_attempt(no_adc: FakeMetadataServer) -> None:
    """CREDENTIALS_WAIT_SECONDS=0: one look, no sleep."""
    clock = FakeClock()
    with pytest.raises(AuthError, match=r"^finding Application Default Credentials failed: "):
        resolve_identity(_settings(credentials_wait_seconds=0), clock=clock)
    assert clock.sleeps == []


def test_a_stop_request_ends_the_wait_at_once(no_adc: FakeMetadataServer) -> None:
    """SIGTERM during the wait: no further attempt; the message says what stopped it."""
    clock = FakeClock()
    clock.stop_at(1.2)
    with pytest.raises(AuthError, match=r"^stopped by SIGTERM while waiting for credentials: ") as caught:
        resolve_identity(_settings(credentials_wait_seconds=30), clock=clock)
    assert clock.elapsed == 1.2
    assert no_adc.unavailable_answers == 2
    assert caught.value.exit_code == 3
    assert clock.stop_reason == "SIGTERM"


def test_each_retry_is_logged_with_source_attempt_and_reason(no_adc: FakeMetadataServer) -> None:
    """The warning says which source is awaited, which attempt failed, when the next comes, and why."""
    with capture_logs() as logs, pytest.raises(AuthError):
        resolve_identity(_settings(credentials_wait_seconds=1), clock=FakeClock())
    assert [(entry["log_level"], entry["attempt"], entry["retry_in_seconds"]) for entry in logs] == [
        ("warning", 1, 0.5),
        ("warning", 2, 0.5),
    ]
    assert logs[0]["event"] == "credentials not ready; retrying"
    assert logs[0]["credential_source"] == "gce_metadata"
    assert no_adc.host in logs[0]["reason"]


def test_anonymous_credentials_need_no_lookup() -> None:
    """CREDENTIALS=anonymous (emulator demos): no discovery, no network, no principal."""
    clock = FakeClock()
    identity = resolve_identity(_settings(credentials="anonymous"), clock=clock)
    assert isinstance(identity.credentials, AnonymousCredentials)
    assert (identity.source, identity.principal, identity.project) == ("anonymous", None, None)
    assert clock.sleeps == []


def test_anonymous_credentials_cannot_impersonate() -> None:
    """Impersonation needs a real caller: a configuration error, not an auth failure."""
    with pytest.raises(ConfigError, match="IMPERSONATE_SERVICE_ACCOUNT"):
        resolve_identity(_settings(credentials="anonymous", impersonate_service_account=RUNNER), clock=FakeClock())


def test_the_identity_repr_shows_no_credentials_object() -> None:
    """Logging an Identity by accident prints who, not the credentials."""
    identity = resolve_identity(_settings(credentials="anonymous"), clock=FakeClock())
    assert "credentials=" not in repr(identity)


# --- the custom role and its docs (one source of truth) --------------------------------------------------------

ROOT = Path(__file__).resolve().parents[1]
ROLE_FILE = ROOT / "deploy" / "iam" / "vertex-launcher-role.yaml"
JOB_PERMISSIONS = {
    f"aiplatform.{kind}.{verb}"
    for kind in ("customJobs", "pipelineJobs")
    for verb in ("create", "get", "list", "cancel")
}


def test_the_custom_role_file_is_a_gcloud_role_with_exactly_the_job_permissions() -> None:
    """`gcloud iam roles create --file` input: title, description, GA stage, the eight job permissions and the
    optional logging.logEntries.list (STREAM_LOGS), no actAs."""
    role = yaml.safe_load(ROLE_FILE.read_text())
    assert set(role) == {"title", "description", "stage", "includedPermissions"}
    assert role["stage"] == "GA"
    assert len(role["title"]) <= 100
    assert len(role["description"]) <= 256
    assert role["includedPermissions"] == sorted(JOB_PERMISSIONS | {"logging.logEntries.list"})
    assert "iam.serviceAccounts.actAs" not in role["includedPermissions"]


def test_the_identity_docs_explain_every_permission_and_each_setup() -> None:
    """docs/identity.md names each permission of the role file and has the commands of setups (a), (b) and (c)."""
    docs = (ROOT / "docs" / "identity.md").read_text()
    for permission in yaml.safe_load(ROLE_FILE.read_text())["includedPermissions"]:
        assert f"`{permission}`" in docs
    for needle in (
        "--file=deploy/iam/vertex-launcher-role.yaml",
        "iam.gke.io/gcp-service-account=vertex-launcher@PROJECT_ID.iam.gserviceaccount.com",
        '--role="roles/iam.workloadIdentityUser"',
        "principal://iam.googleapis.com/projects/PROJECT_NUMBER/locations/global/workloadIdentityPools/"
        "PROJECT_ID.svc.id.goog/subject/ns/vertex-launcher/sa/vertex-launcher",
        "create-cred-config",
        "--credential-source-file=/var/run/secrets/tokens/gcp/token",
        '--role="roles/iam.serviceAccountUser"',
        "## Troubleshooting: it doesn't authenticate in the CronJob",
    ):
        assert needle in docs
