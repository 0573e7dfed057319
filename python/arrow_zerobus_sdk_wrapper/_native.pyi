"""Type stubs of the Rust extension module (see the package for documentation)."""

from typing import Any, Dict, List, Optional, Tuple

__version__: str

class ZerobusError(Exception):
    dead_letters: List[str]
class ConfigurationError(ZerobusError): ...
class AuthenticationError(ZerobusError): ...
class ConnectionError(ZerobusError): ...
class ConversionError(ZerobusError): ...
class TransmissionError(ZerobusError): ...

class RetryExhausted(ZerobusError):
    attempts: int
    rows: int
    dead_letter: Optional[str]
    rows_read: int
    rows_acknowledged: int
    rows_dead_lettered: int
    input_complete: bool

class TokenRefreshError(ZerobusError): ...

_ResultTuple = Tuple[bool, Optional[str], int, Optional[int], int, int, Optional[int]]

class NativeWrapper:
    def __init__(
        self,
        endpoint: str,
        table_name: str,
        *,
        client_id: Optional[str] = None,
        client_secret: Optional[str] = None,
        unity_catalog_url: Optional[str] = None,
        observability_enabled: bool = False,
        observability_config: Optional[Dict[str, Any]] = None,
        debug_enabled: bool = False,
        debug_output_dir: Optional[str] = None,
        debug_flush_interval_secs: int = 5,
        debug_max_file_size: Optional[int] = None,
        retry_max_attempts: int = 5,
        retry_base_delay_ms: int = 100,
        retry_max_delay_ms: int = 30000,
        dead_letter_dir: Optional[str] = None,
        journal_dir: Optional[str] = None,
        allow_plaintext: bool = False,
        ack_timeout_ms: Optional[int] = None,
        max_streams: int = 16,
        max_inflight_bytes: int = 134217728,
        transport: str = "proto",
        flight_compression: str = "lz4",
        null_collections: str = "refuse",
    ) -> None: ...
    @property
    def table_name(self) -> str: ...
    @property
    def endpoint(self) -> str: ...
    async def send_batch(self, data: Any) -> _ResultTuple: ...
    def send_batch_sync(self, data: Any) -> _ResultTuple: ...
    async def flush(self) -> None: ...
    def flush_sync(self) -> None: ...
    async def shutdown(self) -> None: ...
    def shutdown_sync(self) -> None: ...
    def replay_dead_letters_sync(self, path: str) -> int: ...
    def copy_into_sync(
        self,
        inputs: List[str],
        file_format: Optional[str] = ...,
        force: bool = ...,
        journal_dir: Optional[str] = ...,
        source_file_column: Optional[str] = ...,
        source_row_column: Optional[str] = ...,
    ) -> Dict[str, Any]: ...
    def debug_files(self) -> List[str]: ...

class ZerobusCatalog:
    def __init__(
        self,
        endpoint: str,
        *,
        client_id: Optional[str] = None,
        client_secret: Optional[str] = None,
        unity_catalog_url: Optional[str] = None,
        retry_max_attempts: int = 5,
        retry_base_delay_ms: int = 100,
        retry_max_delay_ms: int = 30000,
        dead_letter_dir: Optional[str] = None,
        allow_plaintext: bool = False,
        **options: Any,  # any other keyword of NativeWrapper (max_streams, debug_enabled, …)
    ) -> None: ...
    def __datafusion_catalog_provider__(self, session: Any) -> object: ...

class ZerobusTableFactory:
    def __init__(
        self,
        endpoint: str,
        *,
        client_id: Optional[str] = None,
        client_secret: Optional[str] = None,
        unity_catalog_url: Optional[str] = None,
        retry_max_attempts: int = 5,
        retry_base_delay_ms: int = 100,
        retry_max_delay_ms: int = 30000,
        dead_letter_dir: Optional[str] = None,
        allow_plaintext: bool = False,
        **options: Any,  # any other keyword of NativeWrapper (max_streams, debug_enabled, …)
    ) -> None: ...
    def __datafusion_table_provider_factory__(self, session: Any) -> object: ...

class ZerobusTable:
    def __init__(
        self,
        endpoint: str,
        table_name: str,
        *,
        client_id: Optional[str] = None,
        client_secret: Optional[str] = None,
        unity_catalog_url: Optional[str] = None,
        retry_max_attempts: int = 5,
        retry_base_delay_ms: int = 100,
        retry_max_delay_ms: int = 30000,
        dead_letter_dir: Optional[str] = None,
        allow_plaintext: bool = False,
        **options: Any,  # any other keyword of NativeWrapper (max_streams, debug_enabled, …)
    ) -> None: ...
    @property
    def table_name(self) -> str: ...
    def __datafusion_table_provider__(self, session: Any) -> object: ...

def fold_sql(query: str, catalogs: List[str]) -> str: ...
def insert_parts(
    query: str, catalogs: List[str]
) -> Optional[Tuple[str, str, List[str], str]]: ...

class InsertTarget:
    def __init__(
        self,
        endpoint: str,
        table_name: str,
        columns: List[str],
        query_schema: Any,
        **options: Any,
    ) -> None: ...
    def __datafusion_table_provider__(self, session: Any) -> object: ...
