"""veritas: verifiable AI inference. Every answer carries a signed receipt, verified here by the
same Rust verifier as the `veritas` CLI (compiled into `veritas._native`) before it is returned.

    import veritas
    client = veritas.Client("http://127.0.0.1:7700")
    answer = client.chat("smollm2", [{"role": "user", "content": "Hi"}], max_tokens=16)
    print(answer.content, answer.verification.badge)
"""

from ._core import ChatChunk, ChatResult, InferResult
from .aio import AsyncClient
from .client import Client
from .errors import (
    ApiError,
    InsufficientFunds,
    InvalidReceipt,
    NotVerifiedYet,
    Overloaded,
    RateLimited,
    Unauthorized,
    Unreachable,
    VeritasError,
)
from .receipt import LEVELS, Receipt, Verification, describe, verify
from ._native import account_address

__all__ = [
    "Client",
    "AsyncClient",
    "ChatChunk",
    "ChatResult",
    "InferResult",
    "Receipt",
    "Verification",
    "LEVELS",
    "describe",
    "verify",
    "account_address",
    "VeritasError",
    "InvalidReceipt",
    "NotVerifiedYet",
    "ApiError",
    "Unauthorized",
    "InsufficientFunds",
    "RateLimited",
    "Overloaded",
    "Unreachable",
]
