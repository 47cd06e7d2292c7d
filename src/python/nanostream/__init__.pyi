# SPDX-License-Identifier: MIT
# Type stubs of the nanostream package (editors and type checkers read these).
import enum
from types import TracebackType
from typing import Any, Callable, Iterator, NamedTuple, Optional, Union


_BytesLike = Union[bytes, bytearray, memoryview, Any]

__version__: str
library_version: str
header_version: str

class Error(OSError):
    """A failure of the library or its driver: (errno, message)."""

class DriverTimeout(Error):
    """The media driver stopped answering."""

class OfferFailed(Error):
    """A claim used in a with-statement did not go through."""
    result: "OfferResult"

class OfferResult(enum.IntEnum):
    NOT_CONNECTED: int
    BACK_PRESSURED: int
    ADMIN_ACTION: int
    CLOSED: int
    MAX_POSITION_EXCEEDED: int

class Counter(tuple):
    id: int
    type: str
    value: int
    label: str
    type_id: int
    owner_id: int
    key: int

class ErrorRecord(tuple):
    count: int
    text: str
    first_ns: int
    last_ns: int

class DriverInfo(tuple):
    state: str
    pid: int
    started: float
    heartbeat_age: float
    counters_age: Optional[float]
    timeout: float

def counters(dir: Optional[str] = ...) -> list[Counter]: ...
def errors(dir: Optional[str] = ...) -> list[ErrorRecord]: ...
def driver_info(dir: Optional[str] = ...) -> DriverInfo: ...
def clock_ns() -> int: ...
def check_uri(channel: str) -> None: ...

class Header:
    position: int
    session_id: int
    stream_id: int
    term_id: int
    term_offset: int
    flags: int
    reserved_value: int

class Image:
    session_id: int
    position: int
    end_of_stream: bool

class Claim:
    buffer: memoryview
    result: Optional[OfferResult]
    position: Optional[int]
    def __bool__(self) -> bool: ...
    def commit(self) -> int: ...
    def abort(self) -> None: ...
    def __enter__(self) -> memoryview: ...
    def __exit__(self, et: Optional[type[BaseException]], ev: Optional[BaseException],
                 tb: Optional[TracebackType]) -> bool: ...

class Publication:
    channel: str
    stream_id: int
    position: int
    session_id: int
    max_message: int
    max_payload: int
    is_connected: bool
    closed: bool
    def offer(self, data: _BytesLike) -> Union[int, OfferResult]: ...
    def offer_wait(self, data: _BytesLike, timeout: Optional[float] = ...) -> Union[int, OfferResult]: ...
    def try_claim(self, length: int) -> Claim: ...
    def wait_connected(self, timeout: Optional[float] = ...) -> bool: ...
    def close(self) -> None: ...
    def __enter__(self) -> "Publication": ...
    def __exit__(self, et: Optional[type[BaseException]], ev: Optional[BaseException],
                 tb: Optional[TracebackType]) -> bool: ...

class Subscription:
    channel: str
    stream_id: int
    image_count: int
    closed: bool
    def poll(self, handler: Callable[[memoryview, Header], Any], limit: int = ...) -> int: ...
    def receive(self, timeout: Optional[float] = ...) -> Optional[bytes]: ...
    def wait_connected(self, timeout: Optional[float] = ...) -> bool: ...
    def close(self) -> None: ...
    def __iter__(self) -> Iterator[bytes]: ...
    def __next__(self) -> bytes: ...
    def __enter__(self) -> "Subscription": ...
    def __exit__(self, et: Optional[type[BaseException]], ev: Optional[BaseException],
                 tb: Optional[TracebackType]) -> bool: ...

class Client:
    dir: Optional[str]
    is_embedded: bool
    closed: bool
    def __init__(self, dir: Optional[str] = ..., *, embedded: bool = ...,
                 timeout: Optional[float] = ..., term_length: int = ..., mtu: int = ...,
                 driver_timeout: Optional[float] = ...) -> None: ...
    def add_publication(self, channel: str, stream_id: int, exclusive: bool = ...) -> Publication: ...
    def add_subscription(self, channel: str, stream_id: int,
                         on_available: Optional[Callable[[Image], Any]] = ...,
                         on_unavailable: Optional[Callable[[Image], Any]] = ...) -> Subscription: ...
    def close(self) -> None: ...
    def __enter__(self) -> "Client": ...
    def __exit__(self, et: Optional[type[BaseException]], ev: Optional[BaseException],
                 tb: Optional[TracebackType]) -> bool: ...

class Events:
    first_seq: int
    def __len__(self) -> int: ...
    def release(self) -> None: ...
    def __getitem__(self, i: int) -> memoryview: ...
    def __enter__(self) -> Any: ...  # numpy.ndarray of the ring's dtype, or this Events
    def __exit__(self, et: Optional[type[BaseException]], ev: Optional[BaseException],
                 tb: Optional[TracebackType]) -> bool: ...

class Poller:
    def take(self, timeout: Optional[float] = ...) -> Any: ...  # bytes, numpy.void or None
    def peek(self, max: int = ...) -> Events: ...

class Ring:
    capacity: int
    slot_size: int
    cursor: int
    dtype: Any
    address: int
    capsule: Any
    def __init__(self, capacity: int = ..., *, slot_size: Optional[int] = ..., dtype: Any = ...,
                 producers: str = ..., wait: str = ...) -> None: ...
    def publish(self, data: _BytesLike, timeout: Optional[float] = ...) -> Optional[int]: ...
    def try_publish(self, data: _BytesLike) -> Optional[int]: ...
    def poller(self) -> Poller: ...
    def halt(self) -> None: ...
