"""Every failure a user can meet, as a typed error whose ``message`` is one sentence
saying what happened and what to do.

The ``message`` is what the panel, the console and the CLI show (docs/errors.md
lists them). It never contains the API key: errors are built from server text
and our own words only, and :func:`scrub` removes the key if a server ever echoes it.
"""

from __future__ import annotations


class TripoError(Exception):
    """Base of all expected failures. ``kind`` is a stable machine name."""

    kind = "error"
    #: True when trying the same request again later may succeed.
    retryable = False

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


# --- configuration and input -------------------------------------------------

class NoApiKey(TripoError):
    kind = "no_key"


class OnlineAccessDisabled(TripoError):
    kind = "offline_mode"


class InsecureUrl(TripoError):
    kind = "insecure_url"


class BadImage(TripoError):
    kind = "bad_image"


class BadOption(TripoError):
    """An option of the game-ready step (face budget, LODs, export...) or an extra gateway field that cannot work."""

    kind = "bad_option"


# --- answers of the gateway ----------------------------------------------------

class BadRequest(TripoError):
    kind = "bad_request"


class AuthError(TripoError):
    kind = "auth"


class Forbidden(TripoError):
    kind = "forbidden"


class InsufficientBalance(TripoError):
    kind = "no_balance"


class RateLimited(TripoError):
    kind = "rate_limited"
    retryable = True

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class ServerError(TripoError):
    kind = "server_error"
    retryable = True

    def __init__(self, message: str, status_code: int = 500, retry_after: float | None = None):
        super().__init__(message)
        self.status_code = status_code
        self.retry_after = retry_after


class NotFound(TripoError):
    kind = "not_found"


class BadResponse(TripoError):
    """The gateway answered something that is not the documented JSON."""

    kind = "bad_response"
    retryable = True


class NetworkError(TripoError):
    kind = "network"
    retryable = True

    def __init__(self, message: str, reached_server: bool = True):
        super().__init__(message)
        #: False only when the request surely never left this machine
        #: (connection refused, name not resolved, connect timeout).
        self.reached_server = reached_server


class SubmitUncertain(TripoError):
    """The submit may have reached the queue, but no answer came back."""

    kind = "submit_uncertain"


# --- job outcomes --------------------------------------------------------------

class JobFailed(TripoError):
    kind = "failed"


class JobErrored(TripoError):
    kind = "error_not_charged"


class NoOutput(TripoError):
    kind = "no_output"


class NotAGlb(TripoError):
    kind = "not_glb"


class TooLarge(TripoError):
    kind = "too_large"


class DownloadError(TripoError):
    kind = "download"
    retryable = True


class ImportFailed(TripoError):
    kind = "import_failed"


class OptimiseFailed(TripoError):
    """A model could not be made game-ready (decimated, its textures scaled, its LODs made)."""

    kind = "optimise_failed"


class ExportFailed(TripoError):
    """A model could not be written for an engine: its exporter is missing in this Blender, or it failed."""

    kind = "export_failed"


class Stopped(TripoError):
    """The user stopped tracking the job (or Blender is quitting)."""

    kind = "stopped"


class RetriesExhausted(TripoError):
    """Temporary faults outlasted the retry budget; the job can be resumed."""

    kind = "retries_exhausted"


def scrub(text: str, secret: str | None) -> str:
    """Remove ``secret`` from ``text`` (for server text we pass on to users)."""
    if secret and len(secret) >= 4:
        text = text.replace(secret, "***")
    return text


# --- S3-compatible storage for local images ------------------------------------

class StorageError(TripoError):
    """Putting a local image into the user's bucket, or linking to it, failed.

    ``code`` is S3's error code when the server sent one; ``status_code`` the
    HTTP status (None when no answer came).
    """

    kind = "storage"

    def __init__(self, message: str, *, status_code: int | None = None, code: str = ""):
        super().__init__(message)
        self.status_code = status_code
        self.code = code


class StorageConfigError(StorageError):
    kind = "storage_config"


class StorageAuthError(StorageError):
    kind = "storage_auth"


class StorageNoBucket(StorageError):
    kind = "storage_no_bucket"


class StorageDenied(StorageError):
    kind = "storage_denied"


class StorageUnreachable(StorageError):
    kind = "storage_unreachable"
    retryable = True


class StorageClockSkew(StorageError):
    kind = "storage_clock_skew"


class StorageTooLarge(StorageError):
    kind = "storage_too_large"


class StorageUrlUnreadable(StorageError):
    kind = "storage_url_unreadable"


class MissingPrerequisite(TripoError):
    """This Blender lacks something a job needs (e.g. numpy for the glTF importer)."""

    kind = "missing_prerequisite"


# --- hardening (issue 9): keys, gateway identity, journal, locks, GLB safety ---

class BadApiKey(NoApiKey):
    """A key that cannot travel as an HTTP header, or with whitespace inside: refused before any request."""

    kind = "bad_key"


class NotGateway(TripoError):
    """The address answered, but not as the Pixazo gateway does (a web page, a login portal, other JSON)."""

    kind = "not_gateway"


class JournalUnwritable(TripoError, OSError):
    """The job journal's folder cannot be written (read-only, full, no permission).

    Also an OSError, so code that guarded journal writes with ``except OSError`` keeps working.
    """

    kind = "journal_unwritable"


class LockUnsupported(TripoError, OSError):
    """The journal's file system cannot lock files, so one worker per job cannot be promised.

    Also an OSError: callers that guarded the journal with ``except OSError`` keep working.
    """

    kind = "lock_unsupported"


class UnsafeGlb(NotAGlb):
    """A GLB that points at files outside itself (a buffer or image ``uri`` that is not ``data:``)."""

    kind = "glb_external_refs"


def error_of_kind(kind: str | None, message: str) -> TripoError:
    """An error of the class whose ``kind`` this is (a job's stored error_kind), else a plain TripoError."""
    def classes(base):
        for sub in base.__subclasses__():
            yield sub
            yield from classes(sub)

    for cls in classes(TripoError):
        if cls.__dict__.get("kind") == kind:
            try:
                return cls(message)
            except TypeError:  # a class with its own constructor
                break
    error = TripoError(message)
    error.kind = kind or TripoError.kind
    return error
