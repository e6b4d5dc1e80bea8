"""Environment → ``Settings``: every ``VERTEX_LAUNCHER_*`` variable, documented and validated in one place.

Only the composition root (``__main__``/``cli``) calls ``load_settings``; everything else receives the
``Settings`` object. Sources are the process environment only (no ``.env`` file, no secrets dir), unknown
``VERTEX_LAUNCHER_*`` names are rejected with a suggestion, and every validation failure becomes one
``ConfigError`` line naming the variable.
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import os
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic.alias_generators import to_camel
from pydantic_settings import BaseSettings, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict, SettingsError

from vertex_launcher.errors import ConfigError

PREFIX = "VERTEX_LAUNCHER_"

#: Names Kubernetes injects for a Service called ``vertex-launcher``; never ours, always ignored.
_SERVICE_LINK = re.compile(rf"^{PREFIX}(SERVICE_HOST|SERVICE_PORT(_\w+)?|PORT(_\w+)?)$")
_REGION = re.compile(r"^[a-z]+(-[a-z]+)+[0-9]+$")
_LABEL_KEY = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
_RFC1035 = r"[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?"
#: The form Vertex documents for a peered network: a project NUMBER, not the project id.
_NETWORK = re.compile(rf"^projects/[0-9]+/global/networks/{_RFC1035}$")
_RESERVED_IP_RANGE = re.compile(rf"^{_RFC1035}$")
_KMS_KEY = re.compile(r"^projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/]+$")

PositiveSeconds = Annotated[float, Field(gt=0)]
#: The failure classes RESUBMIT_ON can name (``attempts.classify`` decides which one a failure is).
ResubmitClass = Literal["capacity", "preempted", "allocation-quota"]


class ResubmitFallback(BaseModel):
    """One RESUBMIT_FALLBACKS choice: what the next attempt changes (camelCase keys, as in a spec file)."""

    model_config = ConfigDict(extra="forbid", frozen=True, alias_generator=to_camel, populate_by_name=True)

    machine_type: str | None = Field(default=None, description="workerPoolSpecs[].machineSpec.machineType")
    accelerator_type: str | None = Field(default=None, description="machineSpec.acceleratorType, e.g. NVIDIA_L4")
    accelerator_count: int | None = Field(default=None, ge=0, description="machineSpec.acceleratorCount")
    worker_pools: list[Annotated[int, Field(ge=0)]] | None = Field(
        default=None, description="Indexes of the worker pools the machine fields change; default: every pool."
    )
    region: str | None = Field(default=None, description="Submit to this region instead.")
    scheduling_strategy: Literal["STANDARD", "SPOT", "FLEX_START"] | None = Field(
        default=None, description="jobSpec.scheduling.strategy"
    )
    max_wait_duration: str | None = Field(
        default=None, description="jobSpec.scheduling.maxWaitDuration (FLEX_START), e.g. 3600s"
    )

    @field_validator("region")
    @classmethod
    def _region(cls, value: str | None) -> str | None:
        if value is not None and not _REGION.match(value):
            msg = f"{value!r} is not a region name like us-central1"
            raise ValueError(msg)
        return value

    @model_validator(mode="after")
    def _changes_something(self) -> ResubmitFallback:
        if not self.model_dump(exclude_none=True, exclude={"worker_pools"}):
            msg = "a fallback must change something: machineType, acceleratorType, acceleratorCount, region, "
            raise ValueError(msg + "schedulingStrategy or maxWaitDuration")
        return self

    @property
    def machine_fields(self) -> dict[str, Any]:
        """The machineSpec fields this choice sets (REST JSON names)."""
        fields: dict[str, Any] = {
            "machineType": self.machine_type,
            "acceleratorType": self.accelerator_type,
            "acceleratorCount": self.accelerator_count,
        }
        return {key: value for key, value in fields.items() if value is not None}


class Settings(BaseSettings):
    """One run's configuration. Field names are the variable names without the ``VERTEX_LAUNCHER_`` prefix."""

    model_config = SettingsConfigDict(
        env_prefix=PREFIX,
        case_sensitive=False,
        extra="forbid",
        frozen=True,
        validate_default=True,
    )

    # --- where ---
    project: str | None = Field(
        default=None,
        validation_alias=AliasChoices(f"{PREFIX}PROJECT", "GOOGLE_CLOUD_PROJECT"),
        description="GCP project id; defaults to GOOGLE_CLOUD_PROJECT, then the ADC project.",
    )
    region: str = Field(description="Vertex AI region, e.g. us-central1. Required.")

    # --- what ---
    job_type: Literal["custom", "pipeline"] = Field(default="custom", description="`custom` or `pipeline`.")
    spec_file: Path | None = Field(
        default=None,
        description="custom: a CustomJobSpec YAML/JSON as `gcloud ai custom-jobs create --config` takes it.",
    )
    image_uri: str | None = Field(default=None, description="Container image of the single worker pool.")
    machine_type: str = Field(default="n1-standard-4", description="Machine type of the single worker pool.")
    accelerator_type: str | None = Field(default=None, description="e.g. NVIDIA_TESLA_T4.")
    accelerator_count: int = Field(default=0, ge=0, description="Accelerators per replica.")
    replica_count: int = Field(default=1, ge=1, description="Replicas of the single worker pool.")
    command: list[str] | None = Field(default=None, description="JSON list: container command.")
    args: list[str] | None = Field(default=None, description="JSON list: container args (placeholders allowed).")
    env: dict[str, str] = Field(default_factory=dict, description="JSON object: container environment.")
    pipeline_template: str | None = Field(
        default=None, description="Compiled KFP pipeline: local path, gs://…, or https://<region>-kfp.pkg.dev/…"
    )
    pipeline_parameters: dict[str, Any] = Field(
        default_factory=dict, description="JSON object of pipeline parameter values (placeholders allowed)."
    )
    pipeline_root: str | None = Field(default=None, description="gs://… pipeline output root.")
    service_account: str | None = Field(default=None, description="Service account the Vertex job runs as.")
    network: str | None = Field(
        default=None,
        description="VPC network the job's workload peers with: projects/{project number}/global/networks/{name}.",
    )
    reserved_ip_ranges: list[str] | None = Field(
        default=None, description="JSON list: names of reserved IP ranges in NETWORK for the job's workload."
    )
    encryption_spec_key_name: str | None = Field(
        default=None,
        description="Cloud KMS key (CMEK) protecting the job: projects/*/locations/*/keyRings/*/cryptoKeys/*.",
    )
    display_name: str | None = Field(
        default=None, description="Display name template; default `{{schedule_name}}-{{scheduled_time:%Y%m%d-%H%M}}`."
    )
    labels: dict[str, str] = Field(default_factory=dict, description="JSON object merged into the job's labels.")

    # --- how ---
    wait: bool = Field(default=True, description="true: watch to the end; false: submit and exit 0.")
    timeout_seconds: PositiveSeconds | None = Field(
        default=None, description="Launcher-side limit on watching; on expiry act as ON_TERMINATE says (exit 4)."
    )
    poll_initial_seconds: PositiveSeconds = Field(default=10.0, description="Shortest pause between GETs.")
    poll_max_seconds: PositiveSeconds = Field(default=300.0, description="Longest pause between GETs.")
    on_terminate: Literal["cancel", "detach"] = Field(
        default="cancel", description="On SIGTERM/SIGINT or timeout: `cancel` or `detach` the Vertex job."
    )
    cancel_grace_seconds: PositiveSeconds = Field(
        default=20.0,
        description="How long to wait for a requested cancel to show (CANCELLING/CANCELLED); keep it below "
        "the pod's terminationGracePeriodSeconds.",
    )
    transient_retry_seconds: PositiveSeconds = Field(
        default=600.0,
        description="How long consecutive transient API errors are retried before exit 5.",
    )
    concurrency_policy: Literal["Allow", "Forbid", "Replace"] = Field(
        default="Forbid", description="Earlier run of the schedule still active: Allow, Forbid (skip), Replace."
    )
    heartbeat_seconds: PositiveSeconds = Field(
        default=600.0, description="Log a heartbeat this often while the job's state does not change."
    )

    # --- attempts ---
    max_attempts: int = Field(
        default=3,
        ge=1,
        description="The most Vertex jobs one run makes, for any reason (resumes after a stopped pod, "
        "resubmissions); 1 turns both off.",
    )
    resubmit_on: Annotated[list[ResubmitClass], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated (or JSON list) failure classes to resubmit: capacity (a stockout), preempted "
        "(Spot VMs reclaimed), allocation-quota (e.g. GPUs refused on create); default none.",
    )
    resubmit_max_attempts: int | None = Field(
        default=None,
        ge=1,
        description="A RESUBMIT_ON failure of attempt N is resubmitted only while N is below this; default "
        "MAX_ATTEMPTS.",
    )
    resubmit_fallbacks: list[ResubmitFallback] = Field(
        default_factory=list,
        description="JSON list of choices tried in order by resubmitted attempts (then round again from the "
        "configured job): machineType, acceleratorType, acceleratorCount, workerPools, region, "
        "schedulingStrategy (STANDARD, SPOT, FLEX_START), maxWaitDuration.",
    )
    resubmit_delay_seconds: float = Field(
        default=60.0, ge=0, description="Pause before a resubmission (capacity rarely comes back at once)."
    )

    # --- identity of the run ---
    schedule_name: str | None = Field(default=None, description="Stable schedule name; default from K8S_JOB_NAME.")
    k8s_job_name: str | None = Field(default=None, description="Downward API: the Kubernetes Job name.")
    k8s_job_uid: str | None = Field(default=None, description="Downward API: the Kubernetes Job uid.")
    k8s_namespace: str | None = Field(default=None, description="Downward API: the namespace.")
    run_key: str | None = Field(default=None, description="Idempotency key; default K8S_JOB_UID, else fresh.")
    scheduled_time: datetime | None = Field(
        default=None, description="RFC 3339 logical time; default from the Job name suffix, else now."
    )

    # --- API and identity ---
    api_endpoint: str | None = Field(default=None, description="host:port of the Vertex API.")
    api_insecure: bool = Field(default=False, description="Plaintext gRPC to API_ENDPOINT (credentials still sent).")
    api_insecure_remote: bool = Field(
        default=False, description="Allow API_INSECURE toward a non-loopback host (e.g. an in-cluster emulator)."
    )
    credentials: Literal["adc", "anonymous"] = Field(default="adc", description="`anonymous`: emulator demos only.")
    impersonate_service_account: str | None = Field(default=None, description="Act as this SA on top of ADC.")
    credentials_wait_seconds: float = Field(
        default=30.0, ge=0, description="How long to retry ADC discovery and the first token (metadata startup race)."
    )
    resource_manager_endpoint: str = Field(
        default="https://cloudresourcemanager.googleapis.com",
        description="URL of the Resource Manager API; `doctor` asks it projects.testIamPermissions.",
    )
    iam_endpoint: str = Field(
        default="https://iam.googleapis.com",
        description="URL of the IAM API; `doctor` asks it serviceAccounts.testIamPermissions (actAs).",
    )
    artifact_registry_endpoint: str | None = Field(
        default=None,
        description="URL that stands in for https://<region>-kfp.pkg.dev when a template is downloaded (fakes, "
        "proxies); the job's templateUri keeps the real URI.",
    )

    # --- logging ---
    log_format: Literal["json", "console"] = Field(default="json", description="`json` or `console`.")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(default="INFO", description="Threshold.")
    log_sink: Literal["stdout", "cloud-logging"] = Field(default="stdout", description="`cloud-logging`: Logging API.")
    logging_api_endpoint: str | None = Field(
        default=None, description="host:port of the Cloud Logging gRPC API (LOG_SINK=cloud-logging, STREAM_LOGS)."
    )
    stream_logs: bool = Field(
        default=False,
        description="true: while watching, print the Vertex job's own Cloud Logging entries on stdout "
        "(needs logging.logEntries.list; never changes the outcome).",
    )
    stream_logs_poll_seconds: PositiveSeconds = Field(
        default=30.0, description="Pause between reads of the job's entries; each refusal (429) doubles it, to 120 s."
    )
    stream_logs_lag_seconds: float = Field(
        default=10.0,
        ge=0,
        description="How late an entry may reach Cloud Logging and still print in order: held this long, "
        "re-read this far back.",
    )
    stream_logs_drain_seconds: float = Field(
        default=30.0, ge=0, description="After the job ends, read its last entries for at most this long."
    )
    stream_logs_max_lines_per_minute: int = Field(
        default=1000, ge=1, description="Print at most this many job log lines a minute; the rest are counted."
    )
    termination_message_path: Path | None = Field(
        default=None, description="Where the result JSON goes; default /dev/termination-log when writable."
    )
    outputs_dir: Path | None = Field(
        default=None,
        description="Directory that gets one file per result field (outcome, job, state, exit_code, console_url; "
        "empty for null) and result.json on every run, for Argo output parameters or Tekton results; unset or "
        "empty: no files.",
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Keyword arguments (tests) and the environment; never a stray .env file."""
        return (init_settings, env_settings)

    @field_validator("job_type", "on_terminate", "credentials", "log_format", "log_sink", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("concurrency_policy", mode="before")
    @classmethod
    def _title(cls, value: object) -> object:
        return value.strip().capitalize() if isinstance(value, str) else value

    @field_validator("outputs_dir", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("region")
    @classmethod
    def _region(cls, value: str) -> str:
        if not _REGION.match(value):
            msg = f"{value!r} is not a region name like us-central1"
            raise ValueError(msg)
        return value

    @field_validator("pipeline_root")
    @classmethod
    def _gcs(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("gs://"):
            msg = f"{value!r} must start with gs://"
            raise ValueError(msg)
        return value

    @field_validator("resource_manager_endpoint", "iam_endpoint", "artifact_registry_endpoint")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.startswith(("https://", "http://")) or not value.split("://", 1)[1].strip("/"):
            msg = f"{value!r} must be an https:// URL (http:// only toward this machine)"
            raise ValueError(msg)
        return value.rstrip("/")

    @field_validator("network")
    @classmethod
    def _network(cls, value: str | None) -> str | None:
        if value is not None and not _NETWORK.match(value):
            msg = f"{value!r} must be projects/{{project number}}/global/networks/{{network name}}"
            raise ValueError(msg)
        return value

    @field_validator("reserved_ip_ranges")
    @classmethod
    def _ranges(cls, value: list[str] | None) -> list[str] | None:
        for name in value or []:
            if not _RESERVED_IP_RANGE.match(name):
                msg = f"{name!r} is not a reserved IP range name (lowercase letters, digits, -; ≤ 63 chars)"
                raise ValueError(msg)
        return value

    @field_validator("encryption_spec_key_name")
    @classmethod
    def _kms_key(cls, value: str | None) -> str | None:
        if value is not None and not _KMS_KEY.match(value):
            msg = f"{value!r} must be a Cloud KMS key: projects/*/locations/*/keyRings/*/cryptoKeys/*"
            raise ValueError(msg)
        return value

    @field_validator("labels")
    @classmethod
    def _label_keys(cls, value: dict[str, str]) -> dict[str, str]:
        for key in value:
            if not _LABEL_KEY.match(key):
                msg = f"label key {key!r} must be lowercase letters, digits, - or _, start with a letter, ≤ 63 chars"
                raise ValueError(msg)
        return value

    @field_validator("resubmit_on", mode="before")
    @classmethod
    def _classes(cls, value: object) -> object:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [item.strip().lower() for item in text.split(",") if item.strip()]
        return value

    @field_validator("scheduled_time")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            msg = "needs a UTC offset (RFC 3339), e.g. 2026-01-31T02:00:00Z"
            raise ValueError(msg)
        return value.astimezone(UTC) if value is not None else None

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        if self.poll_max_seconds < self.poll_initial_seconds:
            msg = f"{PREFIX}POLL_MAX_SECONDS: must be ≥ POLL_INITIAL_SECONDS ({self.poll_initial_seconds:g})"
            raise ValueError(msg)
        if self.job_type == "pipeline" and not self.pipeline_template:
            msg = f"{PREFIX}PIPELINE_TEMPLATE: required when JOB_TYPE=pipeline"
            raise ValueError(msg)
        if self.job_type == "custom" and not (self.spec_file or self.image_uri):
            msg = f"{PREFIX}IMAGE_URI: required when JOB_TYPE=custom and no SPEC_FILE is set"
            raise ValueError(msg)
        if self.job_type == "custom" and self.spec_file and self.image_uri:
            msg = f"{PREFIX}SPEC_FILE: set SPEC_FILE or IMAGE_URI, not both"
            raise ValueError(msg)
        self._check_plaintext()
        if (self.accelerator_type is None) != (self.accelerator_count == 0):
            msg = f"{PREFIX}ACCELERATOR_COUNT: set ACCELERATOR_TYPE and a count ≥ 1 together"
            raise ValueError(msg)
        self._consistent_attempts()
        return self

    def _check_plaintext(self) -> None:
        """No credentials in plaintext toward another machine unless API_INSECURE_REMOTE says so."""
        if self.api_insecure and not self.api_endpoint:
            msg = f"{PREFIX}API_ENDPOINT: required when API_INSECURE=true"
            raise ValueError(msg)
        if self.api_insecure and not self.api_insecure_remote and not is_loopback(self.api_endpoint or ""):
            msg = (
                f"{PREFIX}API_INSECURE: toward {self.api_endpoint!r} (not this machine) would send credentials "
                "in plaintext; set VERTEX_LAUNCHER_API_INSECURE_REMOTE=true if that is really wanted "
                "(e.g. an in-cluster emulator)"
            )
            raise ValueError(msg)
        for name in ("resource_manager_endpoint", "iam_endpoint", "artifact_registry_endpoint"):
            url = getattr(self, name)
            if url is None:
                continue
            host = url.split("://", 1)[1].split("/", 1)[0]
            if url.startswith("http://") and not self.api_insecure_remote and not is_loopback(host):
                msg = (
                    f"{PREFIX}{name.upper()}: http:// toward {host!r} (not this machine) would send credentials in "
                    "plaintext; use https://, or set VERTEX_LAUNCHER_API_INSECURE_REMOTE=true if that is really wanted"
                )
                raise ValueError(msg)
        if self.stream_logs and self.api_insecure:
            endpoint = self.logging_api_endpoint
            if not endpoint:
                msg = (
                    f"{PREFIX}LOGGING_API_ENDPOINT: required when STREAM_LOGS=true and API_INSECURE=true (the "
                    "plaintext Logging endpoint, e.g. the emulator's gRPC address)"
                )
                raise ValueError(msg)
            if not self.api_insecure_remote and not is_loopback(endpoint):
                msg = (
                    f"{PREFIX}LOGGING_API_ENDPOINT: plaintext toward {endpoint!r} (not this machine) would send "
                    "credentials in plaintext; set VERTEX_LAUNCHER_API_INSECURE_REMOTE=true if that is really wanted"
                )
                raise ValueError(msg)

    def _consistent_attempts(self) -> None:
        if self.resubmit_max_attempts is not None and self.resubmit_max_attempts > self.max_attempts:
            msg = f"{PREFIX}RESUBMIT_MAX_ATTEMPTS: must be ≤ MAX_ATTEMPTS ({self.max_attempts}), which bounds all"
            raise ValueError(msg)
        if self.resubmit_fallbacks and not self.resubmit_on:
            msg = f"{PREFIX}RESUBMIT_FALLBACKS: used only when a failure is resubmitted; set RESUBMIT_ON too"
            raise ValueError(msg)
        if not self.wait and set(self.resubmit_on) & {"capacity", "preempted"}:
            msg = (
                f"{PREFIX}RESUBMIT_ON: capacity and preempted failures come after the submit, which WAIT=false does "
                "not watch; keep only allocation-quota or set WAIT=true"
            )
            raise ValueError(msg)
        for index, fallback in enumerate(self.resubmit_fallbacks):
            if self.job_type == "pipeline" and (fallback.machine_fields or fallback.worker_pools is not None):
                msg = f"{PREFIX}RESUBMIT_FALLBACKS[{index}]: a PipelineJob's machines are in its template; only region"
                raise ValueError(msg + " may change")
            if self.job_type == "pipeline" and (fallback.scheduling_strategy or fallback.max_wait_duration):
                msg = f"{PREFIX}RESUBMIT_FALLBACKS[{index}]: a PipelineJob has no jobSpec.scheduling; only region"
                raise ValueError(msg + " may change")


def is_loopback(endpoint: str) -> bool:
    """True when ``host:port`` names this machine."""
    host = endpoint.rsplit(":", 1)[0].strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def setting_names() -> list[str]:
    """Every environment variable name Settings reads (prefix included), for docs and manifest checks."""
    return [f"{PREFIX}{name.upper()}" for name in Settings.model_fields]


def _check_unknown(environ: Mapping[str, str]) -> None:
    known = set(setting_names())
    for name in sorted(environ):
        if name.startswith(PREFIX) and name not in known and not _SERVICE_LINK.match(name):
            close = difflib.get_close_matches(name, known, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            msg = f"{name}: unknown variable{hint}"
            raise ConfigError(msg)


def _describe(error: Mapping[str, Any]) -> str:
    loc = error.get("loc") or ()
    field = str(loc[0]) if loc else ""
    name = f"{PREFIX}{field.upper()}" if field else "configuration"
    name += "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc[1:])
    message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
    if error.get("type") == "missing":
        message = "is required"
    value = error.get("input")
    shown = ""
    if isinstance(value, str | int | float) and error.get("type") != "missing" and repr(value) not in message:
        shown = f" (got {value!r})"
    if not field:
        return message
    return f"{name}: {message}{shown}"


def load_settings() -> Settings:
    """Build Settings from the process environment; any problem is one ConfigError naming the variable."""
    _check_unknown(os.environ)
    # pydantic-settings decodes JSON fields itself; check them first so the message names the variable.
    for name in ("command", "args", "env", "pipeline_parameters", "labels", "reserved_ip_ranges", "resubmit_fallbacks"):
        raw = os.environ.get(f"{PREFIX}{name.upper()}")
        if raw is not None:
            try:
                json.loads(raw)
            except json.JSONDecodeError as exc:
                msg = f"{PREFIX}{name.upper()}: not valid JSON ({exc.msg} at position {exc.pos})"
                raise ConfigError(msg) from None
    try:
        return Settings()  # type: ignore[call-arg]
    except ValidationError as exc:
        raise ConfigError(_describe(dict(exc.errors()[0]))) from None
    except SettingsError as exc:
        raise ConfigError(str(exc)) from None
