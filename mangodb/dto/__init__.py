"""Pydantic DTOs: what crosses the repository boundary. Reads are frozen.

``core``: runs, objectives, events, crash reports, attachments, pages and the checks every
input goes through; ``reports``: what the analyses and maintenance calls return.
"""

from mangodb.dto.core import (
    EXCERPT_LIMIT as EXCERPT_LIMIT,
)
from mangodb.dto.core import (
    MAX_ID as MAX_ID,
)
from mangodb.dto.core import (
    MAX_JSON_DEPTH as MAX_JSON_DEPTH,
)
from mangodb.dto.core import (
    AttachmentRead as AttachmentRead,
)
from mangodb.dto.core import (
    CrashReportCreate as CrashReportCreate,
)
from mangodb.dto.core import (
    CrashReportRead as CrashReportRead,
)
from mangodb.dto.core import (
    Direction as Direction,
)
from mangodb.dto.core import (
    FiniteFloat as FiniteFloat,
)
from mangodb.dto.core import (
    InstanceRunRead as InstanceRunRead,
)
from mangodb.dto.core import (
    Int64 as Int64,
)
from mangodb.dto.core import (
    JSONObject as JSONObject,
)
from mangodb.dto.core import (
    KeyText as KeyText,
)
from mangodb.dto.core import (
    LongText as LongText,
)
from mangodb.dto.core import (
    ObjectiveCreate as ObjectiveCreate,
)
from mangodb.dto.core import (
    ObjectiveRead as ObjectiveRead,
)
from mangodb.dto.core import (
    RunCreate as RunCreate,
)
from mangodb.dto.core import (
    RunEventRead as RunEventRead,
)
from mangodb.dto.core import (
    RunId as RunId,
)
from mangodb.dto.core import (
    RunPage as RunPage,
)
from mangodb.dto.core import (
    RunRead as RunRead,
)
from mangodb.dto.core import (
    ShortText as ShortText,
)
from mangodb.dto.core import (
    StatusChange as StatusChange,
)
from mangodb.dto.core import (
    StatusUpdate as StatusUpdate,
)
from mangodb.dto.core import (
    Step as Step,
)
from mangodb.dto.core import (
    Tag as Tag,
)
from mangodb.dto.core import (
    Text32 as Text32,
)
from mangodb.dto.core import (
    Text64 as Text64,
)
from mangodb.dto.core import (
    Text1024 as Text1024,
)
from mangodb.dto.core import (
    _finite as _finite,
)
from mangodb.dto.core import (
    _Input as _Input,
)
from mangodb.dto.core import (
    _json_value as _json_value,
)
from mangodb.dto.core import (
    _Read as _Read,
)
from mangodb.dto.core import (
    _text as _text,
)
from mangodb.dto.core import (
    _too_deep as _too_deep,
)
from mangodb.dto.core import (
    as_sequence as as_sequence,
)
from mangodb.dto.core import (
    check_nesting as check_nesting,
)
from mangodb.dto.core import (
    check_text as check_text,
)
from mangodb.dto.core import (
    json_document as json_document,
)
from mangodb.dto.core import (
    validation_error as validation_error,
)
from mangodb.dto.reports import (
    ArchiveReport as ArchiveReport,
)
from mangodb.dto.reports import (
    CrashGroup as CrashGroup,
)
from mangodb.dto.reports import (
    MethodComparison as MethodComparison,
)
from mangodb.dto.reports import (
    MethodCurve as MethodCurve,
)
from mangodb.dto.reports import (
    MethodCurves as MethodCurves,
)
from mangodb.dto.reports import (
    MethodReport as MethodReport,
)
from mangodb.dto.reports import (
    MethodRow as MethodRow,
)
from mangodb.dto.reports import (
    ObjectiveStats as ObjectiveStats,
)
from mangodb.dto.reports import (
    PurgeReport as PurgeReport,
)
from mangodb.dto.reports import (
    ReportObjective as ReportObjective,
)
